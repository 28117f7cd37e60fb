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
"""Min-max spatial attention (the "SA" of CDFINet's MVBA attention).

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 2b and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). A CBAM-style spatial attention (Woo et al., ECCV 2018) with a
channel-min statistic added. Re-implemented from the authors' published description (figures, README); no code copied.

Shape constraints: none; any H, W.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MinMaxSpatialAttention"]


class MinMaxSpatialAttention(nn.Module):
    """Project with a 1x1 conv, then gate by a sigmoid map computed from the channel mean, max and min.

    ``s = conv1x1(x)`` (C -> C, no bias); ``map = sigmoid(convKxK(concat[mean_c(s), max_c(s), min_c(s)]))`` (3 -> 1,
    no bias, "same" padding); the output is ``s * map``.

    Args:
        channels: C.
        kernel_size: K, the odd kernel size of the map convolution (7 in CDFINet).

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"MinMaxSpatialAttention: channels must be positive, got {channels}.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"MinMaxSpatialAttention: kernel_size must be a positive odd integer, got {kernel_size}.")
        self.proj = nn.Conv2d(channels, channels, 1, bias=False)
        self.map_conv = nn.Conv2d(3, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.proj(x)
        stats = torch.cat(
            [s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True), s.amin(dim=1, keepdim=True)], dim=1
        )
        return s * torch.sigmoid(self.map_conv(stats))
