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
"""Swin windowed multi-head self-attention on a channels-last map, with padding and an optional cyclic shift.

Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", ICCV 2021 (arXiv:2103.14030),
in the form HiFuse's global branch uses it (Huo et al., "HiFuse: Hierarchical multi-scale feature fusion network for
medical image classification", Biomedical Signal Processing and Control 87 (2024) 105534, arXiv:2209.10218).
Re-implemented from the description in ../specs/hifuse_medmamba.md §1.3; no code copied. The attention itself,
the window partition/reverse and the region mask are MONAI's (``monai.networks.nets.swin_unetr``); this file adds
only the padding, shift, mask and crop around them, without MONAI's rule that turns the shift off when the map is no
larger than the window (HiFuse keeps the shift at its 7x7 stage 4).

Spatial shape constraints: none; any H, W >= 1 (the map is zero-padded at the bottom/right to a multiple of the
window and cropped back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets.swin_unetr import WindowAttention, compute_mask, window_partition, window_reverse

__all__ = ["ShiftedWindowAttention"]


class ShiftedWindowAttention(WindowAttention):
    """(Shifted-)window multi-head self-attention with a relative position bias, channels-last.

    For x of shape (B, H, W, C): zero-pad H and W at the end to multiples of ``window_size``; if ``shift_size > 0``,
    roll the map by ``-shift_size`` along H and W and build the Swin region mask (-100 between tokens that come from
    different regions of the padded map); split into ``window_size`` x ``window_size`` windows; run MONAI's
    ``WindowAttention`` on each window (qkv Linear(C -> 3C, bias), scale head_dim^-0.5, plus a learnable relative
    position bias from a ((2 * window_size - 1)^2, num_heads) table, trunc-normal std 0.02, plus the mask, softmax,
    proj Linear(C -> C)); merge the windows, roll back and crop the padding.

    The shift is applied whatever the map size, also when H or W is not larger than the window (unlike MONAI's
    ``SwinTransformerBlock``, which disables it there).

    This subclasses ``WindowAttention`` so its parameters keep the usual Swin names (``qkv``, ``proj``,
    ``relative_position_bias_table``); ``forward`` takes the whole map instead of pre-cut windows.

    Args:
        channels: C; must be divisible by ``num_heads``.
        num_heads: number of attention heads.
        window_size: side of the square attention window.
        shift_size: cyclic shift of the map before the window split, in [0, window_size); 0 means no shift.

    Input and output: (B, H, W, C).
    """

    def __init__(self, channels: int, num_heads: int, window_size: int = 7, shift_size: int = 0) -> None:
        if channels < 1 or num_heads < 1 or channels % num_heads:
            raise ValueError(
                f"channels must be a positive multiple of num_heads, got channels={channels}, num_heads={num_heads}."
            )
        if window_size < 1:
            raise ValueError(f"window_size must be a positive integer, got {window_size}.")
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must be in [0, window_size={window_size}), got {shift_size}.")
        super().__init__(channels, num_heads, (window_size, window_size), qkv_bias=True)
        self.shift_size = shift_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """
        Args:
            x: (B, H, W, C).

        Returns:
            (B, H, W, C).
        """
        if x.dim() != 4:
            raise ValueError(f"ShiftedWindowAttention expects (B, H, W, C), got shape {tuple(x.shape)}.")
        b, h, w, _ = x.shape
        win = self.window_size[0]
        pad_b, pad_r = (win - h % win) % win, (win - w % win) % win
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        mask: torch.Tensor | None = None
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask = compute_mask((hp, wp), self.window_size, (self.shift_size, self.shift_size), x.device)
        windows = super().forward(window_partition(x.contiguous(), self.window_size), mask)
        x = window_reverse(windows, self.window_size, (b, hp, wp))
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        return x[:, :h, :w, :]
