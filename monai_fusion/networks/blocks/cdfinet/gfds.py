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
"""GFDS, the global frequency-domain scan branch of CDFINet's LGFS block (the only place CDFINet uses SS2D).

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1c and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). The scan cores are VMamba's cross selective scan (Liu et al.,
"VMamba: Visual State Space Model", NeurIPS 2024, arXiv:2401.10166). Re-implemented from the authors' published
description (figures, README); no code copied.

Shape constraints: input (B, H, W, C) channels-last, already layer-normed, with H and W even (one Haar DWT level).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.ss2d import SS2DCore
from monai_fusion.networks.layers.channel_shuffle import channel_shuffle
from monai_fusion.networks.ops.haar_dwt import HaarDWT2d, HaarIDWT2d

__all__ = ["GFDS"]


def _subband_convs(channels: int, kernel_size: int, lh_horizontal: bool) -> nn.ModuleList:
    """Depthwise convs for the [LL, LH, HL, HH] subbands: 3x3, 1xk / kx1, kx1 / 1xk, 3x3 (all with bias)."""
    k = kernel_size
    row = nn.Conv2d(channels, channels, (1, k), padding=(0, k // 2), groups=channels)
    col = nn.Conv2d(channels, channels, (k, 1), padding=(k // 2, 0), groups=channels)
    return nn.ModuleList(
        [
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
            row if lh_horizontal else col,
            col if lh_horizontal else row,
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
        ]
    )


class GFDS(nn.Module):
    """Global frequency-domain scan: Haar subband convs, channel shuffle, two SS2D cores, a spectral gate, IDWT.

    With d = ``channels``, h = H/2, w = W/2:

    1. ``x, z = Linear(d -> 2d, no bias)(X)``, ``z = SiLU(z)``; spatial branch ``x_s = GELU(BN(DW3x3(x)))``.
    2. ``DWT(x) = [LL | LH | HL | HH]`` (4d x h x w). First subband depthwise convs + SiLU (LL 3x3, LH 1xk, HL kx1,
       HH 3x3), then second ones + SiLU (LL 3x3, LH kx1, HL 1xk, HH 3x3) with a residual from the first.
    3. Channel shuffle with 4 groups (channel ``4c + j`` = subband j of source channel c), split into two halves of
       2d channels; each half is scanned by its own ``SS2DCore`` (d_inner = 2d, dt_rank = ceil(d / 16), four
       directions summed), then normalised by one ``LayerNorm(2d)`` shared by both cores.
    4. ``Y = SiLU(DW3x3(concat))`` (4d, with bias); gate ``g = upsample_x2(sigmoid(conv1x1(Y)))`` (4d -> 1).
    5. ``Y_sp = IDWT(Y) * z``; the IDWT is applied to the still-shuffled channel order (as the authors' code does),
       so it is a fixed learned permutation rather than the exact inverse of step 2.
    6. ``out = Linear(2d -> d, no bias)(concat[Y_sp, x_s * g])``.

    Both cores' ``x_proj_weight`` start from the same random tensor (core 1's init is copied into core 2); every
    other SSM parameter is initialised independently by ``SS2DCore``.

    Args:
        channels: d, the input and output channel count.
        kernel_size: k, the length of the asymmetric 1xk / kx1 depthwise kernels; a positive odd number.
        d_state: N, the SSM state size of both cores.
        scan_backend: backend of the selective scan: ``"auto"``, ``"reference"``, ``"torch"`` or ``"cuda"``.

    Input: (B, H, W, d) channels-last, H and W even. Output: (B, H, W, d) channels-last.
    """

    def __init__(self, channels: int, kernel_size: int = 9, d_state: int = 16, scan_backend: str = "auto") -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"GFDS: channels must be a positive integer, got {channels}.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"GFDS: kernel_size must be a positive odd integer, got {kernel_size}.")
        d = channels
        d_inner = 2 * d
        dt_rank = math.ceil(d / 16)
        self.in_proj = nn.Linear(d, 2 * d, bias=False)
        self.spatial = nn.Sequential(nn.Conv2d(d, d, 3, padding=1, groups=d), nn.BatchNorm2d(d), nn.GELU())
        self.dwt = HaarDWT2d()
        self.idwt = HaarIDWT2d()
        self.subband_convs1 = _subband_convs(d, kernel_size, lh_horizontal=True)
        self.subband_convs2 = _subband_convs(d, kernel_size, lh_horizontal=False)
        self.core1 = SS2DCore(d_inner, d_state=d_state, dt_rank=dt_rank, scan_backend=scan_backend)
        self.core2 = SS2DCore(d_inner, d_state=d_state, dt_rank=dt_rank, scan_backend=scan_backend)
        with torch.no_grad():
            self.core2.x_proj_weight.copy_(self.core1.x_proj_weight)
        self.out_norm = nn.LayerNorm(d_inner)
        self.conv_out = nn.Sequential(nn.Conv2d(2 * d_inner, 2 * d_inner, 3, padding=1, groups=2 * d_inner), nn.SiLU())
        self.gate = nn.Conv2d(2 * d_inner, 1, 1)
        self.out_proj = nn.Linear(2 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(x).chunk(2, dim=-1)
        z = F.silu(z)
        x = x.permute(0, 3, 1, 2)  # a channels-last view: the convolutions below run NHWC, no copy
        x_s = self.spatial(x)
        # loops over the ModuleLists with enumerate: TorchScript cannot zip a ModuleList with a list
        subbands = torch.chunk(self.dwt(x), 4, dim=1)
        first: list[torch.Tensor] = []
        for i, conv in enumerate(self.subband_convs1):
            first.append(F.silu(conv(subbands[i])))
        second: list[torch.Tensor] = []
        for i, conv in enumerate(self.subband_convs2):
            second.append(F.silu(conv(first[i])) + first[i])
        y = torch.cat(second, dim=1)
        half1, half2 = torch.chunk(channel_shuffle(y, 4), 2, dim=1)
        y = torch.cat([self.out_norm(self.core1(half1)), self.out_norm(self.core2(half2))], dim=-1)
        y = self.conv_out(y.permute(0, 3, 1, 2))
        g = F.interpolate(torch.sigmoid(self.gate(y)), scale_factor=2.0, mode="bilinear", align_corners=False)
        y_sp = self.idwt(y).permute(0, 2, 3, 1) * z
        x_s = (x_s * g).permute(0, 2, 3, 1)
        return self.out_proj(torch.cat([y_sp, x_s], dim=-1))
