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
"""MVBA, the multi-view bi-dimensional attention block of CDFINet (stages 3 and 4).

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1d, Fig. 2a-c and description;
authors' repository GitHub ``PURSUETHESUN/CDFINet``, no licence). Re-implemented from the authors' published description
(figures, README); no code copied.

Shape constraints: ``channels`` divisible by ``num_heads`` and even; any H, W (the attention cost is quadratic in
H * W, so the block is meant for the low-resolution stages).
"""

from __future__ import annotations

import torch
from torch import nn

from monai_fusion.networks.blocks.cdfinet.cffn import CFFN
from monai_fusion.networks.blocks.cdfinet.dfs import DFS
from monai_fusion.networks.blocks.cdfinet.gcsa import GCSA
from monai_fusion.networks.blocks.cdfinet.min_max_spatial_attention import MinMaxSpatialAttention
from monai_fusion.networks.blocks.cdfinet.mvsa import MVSA
from monai_fusion.networks.layers.channel_shuffle import channel_shuffle
from monai_fusion.networks.layers.grn import GRN
from monai_fusion.networks.layers.layer_norm_nd import LayerNorm2d

__all__ = ["MVBAAttention", "MVBABlock"]


class MVBAAttention(nn.Module):
    """The bi-dimensional attention of an MVBA block: spatial-token and channel attention fused by DFS.

    1. ``y_m = MVSA(x)``: cascaded group self-attention, head ``i`` with depthwise ``(2i + 1)`` key/value convs.
    2. ``y_s = SA(x)``: 1x1 projection gated by a min/max/mean spatial map.
    3. CS & GC: ``y_m' = GELU(BN(conv1x1(GELU(BN(gconv3x3(shuffle(y_m * y_s)))))))``, where ``shuffle`` is a
       channel shuffle with ``num_heads`` groups and ``gconv3x3`` a grouped 3x3 conv with ``num_heads`` channels per
       group (both convs with bias).
    4. ``y_s' = GCSA(y_m + y_s)``: single-head channel self-attention.
    5. ``(a, b, x_d) = DFS(y_m', y_s')``.
    6. Output: ``GELU(conv1x1(GRN(GELU(conv3x3(a + b + x_d)))))`` (full 3x3 and 1x1 convs, with bias).

    Args:
        channels: C; must be even and divisible by ``num_heads``.
        num_heads: MVSA heads; also the channel-shuffle groups and the channels per group of the grouped conv.

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int, num_heads: int = 4) -> None:
        super().__init__()
        if num_heads < 1 or channels < 2 or channels % num_heads or channels % 2:
            raise ValueError(
                f"MVBAAttention: channels ({channels}) must be even and a positive multiple of num_heads "
                f"({num_heads}); change one of them."
            )
        self.num_heads = num_heads
        self.mvsa = MVSA(channels, num_heads, kernel_sizes=tuple(2 * i + 1 for i in range(num_heads)))
        self.spatial_attn = MinMaxSpatialAttention(channels, kernel_size=7)
        self.group_conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels // num_heads),
            nn.BatchNorm2d(channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, 1),
            nn.BatchNorm2d(channels),
            nn.GELU(),
        )
        self.channel_attn = GCSA(channels)
        self.dfs = DFS(channels)
        self.out = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GELU(),
            GRN(channels),
            nn.Conv2d(channels, channels, 1),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_m = self.mvsa(x)
        y_s = self.spatial_attn(x)
        y_m2 = self.group_conv(channel_shuffle(y_m * y_s, self.num_heads))
        y_s2 = self.channel_attn(y_m + y_s)
        a, b, x_d = self.dfs(y_m2, y_s2)
        return self.out(a + b + x_d)


class MVBABlock(nn.Module):
    """Multi-view bi-dimensional attention block: conditional position encoding, attention, cascaded FFN.

    ``x = x + CPE(x)``; ``x = x + Attn(LN(x))``; ``x = x + CFFN(BN(x))``, where CPE is a depthwise 3x3 conv (with
    bias) + GELU + GRN, LN a channels-first LayerNorm (eps 1e-5), BN a BatchNorm2d, Attn :class:`MVBAAttention` and
    CFFN :class:`~monai_fusion.networks.blocks.cdfinet.cffn.CFFN` (hidden ``mlp_ratio * C``). There is no drop-path.

    Args:
        channels: C; must be even and divisible by ``num_heads``.
        num_heads: attention heads (4 in CDFINet).
        mlp_ratio: CFFN expansion ratio (4 in CDFINet).

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int, num_heads: int = 4, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.cpe = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.GELU(), GRN(channels))
        self.norm1 = LayerNorm2d(channels, eps=1e-5)
        self.attn = MVBAAttention(channels, num_heads)
        self.norm2 = nn.BatchNorm2d(channels)
        self.ffn = CFFN(channels, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.cpe(x)
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
