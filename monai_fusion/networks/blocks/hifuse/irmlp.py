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
"""IRMLP, the "inverted residual MLP" that closes HiFuse's HFF block.

Huo et al., "HiFuse: Hierarchical multi-scale feature fusion network for medical image classification", Biomedical
Signal Processing and Control 87 (2024) 105534 (arXiv:2209.10218). Re-implemented from the paper's description; no code
copied.

Spatial shape constraints: none; any H, W >= 1.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["IRMLP"]


class IRMLP(nn.Module):
    """Inverted residual MLP: ``BN(conv3(GELU(conv2(BN(GELU(conv1(x)) + x)))))``.

    - conv1: 3x3, in -> in, pad 1, no bias; dense, or depthwise (groups = in_channels) if ``depthwise``;
    - GELU, then the inner residual (+ x), then BatchNorm(in);
    - conv2: 1x1, in -> 4 * in, no bias, then GELU;
    - conv3: 1x1, 4 * in -> out, no bias, then BatchNorm(out).

    There is no outer residual (in HiFuse it is the HFF shortcut). The released HiFuse code asks for a depthwise
    conv1 but its conv wrapper drops the ``groups`` argument, so the released model has a dense conv1
    (``depthwise=False``, in^2 * 9 weights); ``depthwise=True`` is the stated inverted-residual intent (in * 9).

    Args:
        in_channels: input channels (3C in HiFuse).
        out_channels: output channels (C in HiFuse).
        depthwise: make conv1 depthwise instead of dense.

    Input: (B, in_channels, H, W). Output: (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, depthwise: bool = False) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"in_channels and out_channels must be positive integers, got {in_channels} and {out_channels}."
            )
        self.conv1 = nn.Conv2d(
            in_channels, in_channels, 3, padding=1, groups=in_channels if depthwise else 1, bias=False
        )
        self.act = nn.GELU()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, 4 * in_channels, 1, bias=False)
        self.conv3 = nn.Conv2d(4 * in_channels, out_channels, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, in_channels, H, W).

        Returns:
            (B, out_channels, H, W).
        """
        x = self.norm1(self.act(self.conv1(x)) + x)
        return self.norm2(self.conv3(self.act(self.conv2(x))))
