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
"""The local (convolution) and global (shifted-window attention) blocks of HiFuse's two branches.

Huo et al., "HiFuse: Hierarchical multi-scale feature fusion network for medical image classification", Biomedical
Signal Processing and Control 87 (2024) 105534 (arXiv:2209.10218). Re-implemented from the paper's description; no code
copied. Both are reduced forms of their parents: the local block is a ConvNeXt block with a 3x3 kernel, one C -> C
pointwise layer and no layer scale; the global block is a Swin block with one residual, a C -> C Linear + GELU after the
attention and no MLP.

Spatial shape constraints: none; any H, W >= 1.
"""

from __future__ import annotations

import torch
from monai.networks.layers import DropPath
from torch import nn

from monai_fusion.networks.blocks.hifuse.window_attention import ShiftedWindowAttention

__all__ = ["HiFuseLocalBlock", "HiFuseGlobalBlock"]


class HiFuseLocalBlock(nn.Module):
    """HiFuse local block, channels-first: ``x + DropPath(GELU(Linear(LN(DWConv3x3(x)))))``.

    The depthwise 3x3 conv has a bias; LayerNorm (eps 1e-6) and Linear(C -> C) act on the channels-last view.

    Args:
        channels: C.
        drop_path: stochastic-depth probability of the residual branch.

    Input and output: (B, C, H, W).
    """

    def __init__(self, channels: int, drop_path: float = 0.0) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels}.")
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path}.")
        self.dwconv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv = nn.Linear(channels, channels)
        self.act = nn.GELU()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, C, H, W).

        Returns:
            (B, C, H, W).
        """
        y = self.act(self.pwconv(self.norm(self.dwconv(x).permute(0, 2, 3, 1))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class HiFuseGlobalBlock(nn.Module):
    """HiFuse global block, channels-last: ``x + DropPath(GELU(Linear(SW-MSA(LN(x)))))``.

    LayerNorm has eps 1e-5; the attention is ``ShiftedWindowAttention`` (padding to a multiple of the window,
    cyclic shift and Swin mask when ``shift_size > 0``, kept also when the map is no larger than the window).

    Args:
        channels: C; must be divisible by ``num_heads``.
        num_heads: number of attention heads.
        window_size: side of the square attention window.
        shift_size: cyclic shift, in [0, window_size); HiFuse uses 0 for even and window_size // 2 for odd blocks.
        drop_path: stochastic-depth probability of the residual branch.

    Input and output: (B, H, W, C).
    """

    def __init__(
        self, channels: int, num_heads: int, window_size: int = 7, shift_size: int = 0, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path}.")
        self.norm = nn.LayerNorm(channels)
        self.attn = ShiftedWindowAttention(channels, num_heads, window_size, shift_size)
        self.proj = nn.Linear(channels, channels)
        self.act = nn.GELU()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, H, W, C).

        Returns:
            (B, H, W, C).
        """
        return x + self.drop_path(self.act(self.proj(self.attn(self.norm(x)))))
