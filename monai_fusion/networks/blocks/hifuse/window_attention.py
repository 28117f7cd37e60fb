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
Re-implemented from the paper's description; no code copied. The parameters are those of MONAI's
``WindowAttention`` (``monai.networks.nets.swin_unetr``), which this class subclasses so that they keep the usual
Swin names; the forward pass (padding, shift, region mask, window split, attention with the relative position bias,
window merge, roll back, crop) is written here in TorchScript-compatible form, 2-D only. Unlike MONAI's
``SwinTransformerBlock`` the shift is not turned off when the map is no larger than the window (HiFuse keeps the shift
at its 7x7 stage 4).

Spatial shape constraints: none; any H, W >= 1 (the map is zero-padded at the bottom/right to a multiple of the
window and cropped back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets.swin_unetr import WindowAttention

__all__ = ["ShiftedWindowAttention"]


def _window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window`` -> (B * num_windows, window ** 2, C), windows in raster order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window * window, c)


def _window_reverse(windows: torch.Tensor, window: int, b: int, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`_window_partition`: (B * num_windows, window ** 2, C) -> (B, H, W, C)."""
    x = windows.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def _region_mask(h: int, w: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """Swin's attention mask for an (h, w) map rolled by ``-shift``: (num_windows, window ** 2, window ** 2), 0 between
    tokens of the same region and -100 between tokens of different regions. Each axis has three regions, the last
    ``shift`` rows (columns), the ``window - shift`` before them and the rest; h and w are multiples of ``window``."""
    labels = torch.zeros((1, h, w, 1), device=device)
    label = 0
    for h0, h1 in [(0, h - window), (h - window, h - shift), (h - shift, h)]:
        for w0, w1 in [(0, w - window), (w - window, w - shift), (w - shift, w)]:
            labels[:, h0:h1, w0:w1, :] = float(label)
            label += 1
    windows = _window_partition(labels, window).squeeze(-1)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class ShiftedWindowAttention(WindowAttention):
    """(Shifted-)window multi-head self-attention with a relative position bias, channels-last.

    For x of shape (B, H, W, C): zero-pad H and W at the end to multiples of ``window_size``; if ``shift_size > 0``,
    roll the map by ``-shift_size`` along H and W and build the Swin region mask (-100 between tokens that come from
    different regions of the padded map); split into ``window_size`` x ``window_size`` windows; attend within each
    window with the parameters of MONAI's ``WindowAttention`` (qkv Linear(C -> 3C, bias), scale head_dim^-0.5, plus a
    learnable relative position bias from a ((2 * window_size - 1)^2, num_heads) table, trunc-normal std 0.02, plus
    the mask, softmax, proj Linear(C -> C)); merge the windows, roll back and crop the padding.

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
            raise ValueError(f"ShiftedWindowAttention expects (B, H, W, C), got shape {list(x.shape)}.")
        b, h, w, _ = x.shape
        win = self.window_size[0]
        pad_b, pad_r = (win - h % win) % win, (win - w % win) % win
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        mask: torch.Tensor | None = None
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask = _region_mask(hp, wp, win, self.shift_size, x.device)
        windows = self._attend(_window_partition(x.contiguous(), win), mask)
        x = _window_reverse(windows, win, b, hp, wp)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        return x[:, :h, :w, :]

    def _attend(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Multi-head self-attention within each window: (B * num_windows, n, C) -> same shape, n = window ** 2.

        ``softmax(q k^T * head_dim^-0.5 + relative position bias [+ mask]) v``, then the output projection.
        """
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        bias = self.relative_position_bias_table[self.relative_position_index[:n, :n].reshape(-1)]
        bias = bias.reshape(n, n, -1).permute(2, 0, 1).contiguous()
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(self.softmax(attn)).to(v.dtype)
        x = (attn @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj_drop(self.proj(x))
