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
"""LFDS, the local frequency-domain scan branch of CDFINet's LGFS block.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1b and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). The subband-wise asymmetric depthwise convolutions follow the
MSFD block of DFE-IANet (Wang et al., arXiv:2407.20843). Re-implemented from the authors' published description
(figures, README); no code copied.

Shape constraints: input (B, C, H, W) with H and W even (one Haar DWT level).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.ops.haar_dwt import HaarDWT2d, HaarIDWT2d

__all__ = ["LFDS"]


class LFDS(nn.Module):
    """Local frequency-domain scan: Haar-subband depthwise convs plus a spectrally gated spatial depthwise branch.

    1. ``x = GELU(BN(conv1x1(X)))`` (no bias); spatial branch ``x_s = GELU(BN(DW3x3(x)))``.
    2. ``DWT(x) = [LL | LH | HL | HH]``; per-subband depthwise convs with bias and no activation (LL 3x3,
       LH 1xk, HL kx1, HH 3x3), then one GELU over the concatenation.
    3. ``x_H = [LH | HL | HH]`` is fused: ``GELU(DW3x3(GELU(BN(conv1x1(x_H)))))`` (3C -> 3C).
    4. Gate ``g = upsample_x2(sigmoid(conv1x1(x_H)))`` (3C -> 1, bilinear, ``align_corners=False``).
    5. ``x_i = IDWT([LL | fused x_H])``; ``out = GELU(BN(conv1x1(concat[g * x_s, x_i])))`` (2C -> C, no bias).

    Args:
        channels: C, the input and output channel count.
        kernel_size: k, the length of the asymmetric 1xk / kx1 depthwise kernels; a positive odd number.

    Input: (B, C, H, W), H and W even. Output: (B, C, H, W).
    """

    def __init__(self, channels: int, kernel_size: int = 9) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"LFDS: channels must be a positive integer, got {channels}.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"LFDS: kernel_size must be a positive odd integer, got {kernel_size}.")
        c, k = channels, kernel_size
        self.proj_in = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.GELU())
        self.spatial = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c), nn.BatchNorm2d(c), nn.GELU())
        self.dwt = HaarDWT2d()
        self.idwt = HaarIDWT2d()
        self.conv_ll = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.conv_lh = nn.Conv2d(c, c, (1, k), padding=(0, k // 2), groups=c)
        self.conv_hl = nn.Conv2d(c, c, (k, 1), padding=(k // 2, 0), groups=c)
        self.conv_hh = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.fuse_high = nn.Sequential(
            nn.Conv2d(3 * c, 3 * c, 1),
            nn.BatchNorm2d(3 * c),
            nn.GELU(),
            nn.Conv2d(3 * c, 3 * c, 3, padding=1, groups=3 * c),
            nn.GELU(),
        )
        self.gate = nn.Conv2d(3 * c, 1, 1)
        self.proj_out = nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(x)
        x_s = self.spatial(x)
        ll, lh, hl, hh = torch.chunk(self.dwt(x), 4, dim=1)
        sub = F.gelu(torch.cat([self.conv_ll(ll), self.conv_lh(lh), self.conv_hl(hl), self.conv_hh(hh)], dim=1))
        x_low, x_high = torch.split(sub, [ll.shape[1], 3 * ll.shape[1]], dim=1)
        x_high = self.fuse_high(x_high)
        g = F.interpolate(torch.sigmoid(self.gate(x_high)), scale_factor=2.0, mode="bilinear", align_corners=False)
        x_i = self.idwt(torch.cat([x_low, x_high], dim=1))
        return self.proj_out(torch.cat([g * x_s, x_i], dim=1))
