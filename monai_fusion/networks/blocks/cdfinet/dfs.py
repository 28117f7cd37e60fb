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
"""DFS, the dual feature selection block of CDFINet (used in both LGFS and MVBA blocks).

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1e and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). Re-implemented from the authors' published description
(figures, README); no code copied.

Shape constraints: both inputs are (B, C, H, W) with the same shape; C must be even.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DFS"]


class DFS(nn.Module):
    """Dual feature selection: a channel gate times a spatial map, turned into a (0, 1) selection map ``x_d``.

    * Channel path: ``f_c = sigmoid(conv1x1(concat[GELU(conv1x1(GAP(F1))), GELU(conv1x1(GAP(F2)))]))``, with each
      inner 1x1 conv C -> C/2 and the outer one C -> C; ``f_c`` is (B, C, 1, 1).
    * Spatial path: ``f_s = GELU(BN(conv1x1(GELU(DW3x3(GELU(conv1x1(concat[F1, F2])))))))``, 2C -> 2C -> 2C -> C.
    * ``x_d = sigmoid(BN(conv1x1(GELU(DW3x3(f_c * f_s)))))``, so ``x_d`` lies in (0, 1).

    All convolutions have a bias. The caller usually sums the three outputs.

    Args:
        channels: C, the channel count of both inputs; must be even.

    Input: ``f1``, ``f2`` of shape (B, C, H, W).
    Output: ``(f1 * x_d, f2 * x_d, x_d)``, each (B, C, H, W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"DFS: channels must be a positive even number (it is halved), got {channels}.")
        half = channels // 2
        self.channel_f1 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, half, 1), nn.GELU())
        self.channel_f2 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, half, 1), nn.GELU())
        self.channel_fuse = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.Sigmoid())
        self.spatial = nn.Sequential(
            nn.Conv2d(2 * channels, 2 * channels, 1),
            nn.GELU(),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels),
            nn.GELU(),
            nn.Conv2d(2 * channels, channels, 1),
            nn.BatchNorm2d(channels),
            nn.GELU(),
        )
        self.select = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, 1),
            nn.BatchNorm2d(channels),
            nn.Sigmoid(),
        )

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f_c = self.channel_fuse(torch.cat([self.channel_f1(f1), self.channel_f2(f2)], dim=1))
        f_s = self.spatial(torch.cat([f1, f2], dim=1))
        x_d = self.select(f_c * f_s)
        return f1 * x_d, f2 * x_d, x_d
