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
"""MFFE, the multi-frequency feature extraction (channel attention) of MFSF2-Net's MFAF block.

Paper: "MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion" (2025;
paper text not public, authors' repository GitHub ``men934/MFSF2-NET``, no licence). The block follows MADGNet's
multi-frequency channel attention (CVPR 2024), built on FcaNet's DCT bases. Re-implemented from the authors' published
description (figures, README); no code copied.

Shape constraints: input (B, C, H, W) of any spatial size (it is adaptive-average-pooled to the DCT grid first);
``C // reduction >= 1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.layers.dct import TOP16_FREQUENCIES, dct_filter_bank, scale_frequencies

__all__ = ["MFFE"]


class MFFE(nn.Module):
    """Multi-frequency channel attention (MADGNet variant of FcaNet).

    1. ``z = AdaptiveAvgPool2d(dct_size)(x)``.
    2. For each of the first ``num_frequencies`` "top16" frequencies ``(u, v)`` (scaled by ``dct_size // 7``),
       ``z * B_{u,v}``; **the same basis is applied to every channel**.
    3. Per channel, the average, maximum and minimum over the grid of each product, each averaged over the
       frequencies: three (B, C, 1, 1) descriptors.
    4. A shared MLP, conv1x1 C -> C/r (no bias), ReLU, conv1x1 C/r -> C (no bias), on each descriptor; the three
       outputs are summed and passed through a sigmoid.
    5. ``out = x * attention``.

    The DCT bases are a non-persistent buffer of shape (num_frequencies, dct_size, dct_size), so they do not appear in
    the ``state_dict``.

    Args:
        channels: C, the number of input (and output) channels.
        dct_size: side of the DCT grid; must be >= 7.
        num_frequencies: how many of the top-16 frequencies to use, 1..16.
        reduction: channel reduction r of the MLP; ``channels // reduction`` must be >= 1.

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int, dct_size: int = 7, num_frequencies: int = 16, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"MFFE: channels must be >= 1, got {channels}.")
        if dct_size < 7:
            raise ValueError(f"MFFE: dct_size must be >= 7 (the frequency list lives on a 7x7 grid), got {dct_size}.")
        if not 1 <= num_frequencies <= len(TOP16_FREQUENCIES):
            raise ValueError(
                f"MFFE: num_frequencies must lie in [1, {len(TOP16_FREQUENCIES)}] (the top16 list), "
                f"got {num_frequencies}."
            )
        if reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f"MFFE: reduction must be >= 1 and <= channels={channels} so that the MLP has a hidden channel, "
                f"got {reduction}."
            )
        self.dct_size = dct_size
        frequencies = scale_frequencies(TOP16_FREQUENCIES[:num_frequencies], dct_size)
        self.register_buffer("dct_weight", dct_filter_bank(frequencies, dct_size, dct_size), persistent=False)
        hidden = channels // reduction
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x, self.dct_size)
        # (B, C, 1, S, S) * (F, S, S) -> (B, C, F, S*S)
        spectral = (pooled.unsqueeze(2) * self.dct_weight.to(pooled.dtype)).flatten(3)
        avg = spectral.mean(dim=3).mean(dim=2)
        mx = spectral.amax(dim=3).mean(dim=2)
        mn = spectral.amin(dim=3).mean(dim=2)
        attn = self.mlp(avg[:, :, None, None]) + self.mlp(mx[:, :, None, None]) + self.mlp(mn[:, :, None, None])
        return x * torch.sigmoid(attn)
