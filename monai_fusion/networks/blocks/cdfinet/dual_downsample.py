# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The two-branch (strided conv + max-pool) downsampling layer between CDFINet stages.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1 and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). Re-implemented from the authors' published description
(figures, README); no code copied.

Shape constraints: any H, W; the output is (ceil(H / 2), ceil(W / 2)) for both branches.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DualDownsample"]


class DualDownsample(nn.Module):
    """Halve the resolution with the sum of a strided-conv branch and a max-pool branch.

    * Branch (a): conv3x3 stride 2, padding 1 (``in_channels -> out_channels``, with bias) + BN + GELU.
    * Branch (b): max-pool 3x3 stride 2, padding 1, then conv1x1 (no bias) + BN + GELU.

    Args:
        in_channels: input channels.
        out_channels: output channels.

    Input: (B, in_channels, H, W). Output: (B, out_channels, ceil(H / 2), ceil(W / 2)).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"DualDownsample: in_channels ({in_channels}) and out_channels ({out_channels}) must be positive."
            )
        self.conv_branch = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
        )
        self.pool_branch = nn.Sequential(
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_branch(x) + self.pool_branch(x)
