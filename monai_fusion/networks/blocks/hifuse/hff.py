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
"""HFF (Hierarchical Feature Fusion) block of HiFuse: fuses the local, global and previous-scale features.

Huo et al., "HiFuse: Hierarchical multi-scale feature fusion network for medical image classification", Biomedical
Signal Processing and Control 87 (2024) 105534 (arXiv:2209.10218). Re-implemented from the paper's description; no code
copied. Unlike the released code, no module is built that the forward pass does not use (stage 1 has no previous-scale
path; later stages have no 2C fusion conv).

Spatial shape constraints: l and g share their (H, W); f, when given, is (2H, 2W) with H, W >= 1.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import DropPath
from torch import nn

from monai_fusion.networks.blocks.hifuse.cbam import CBAMChannelAttention, CBAMSpatialAttention
from monai_fusion.networks.blocks.hifuse.irmlp import IRMLP
from monai_fusion.networks.layers.layer_norm_nd import LayerNorm2d

__all__ = ["HFFBlock"]


def _conv_bn(in_channels: int, out_channels: int, act: str | None = None) -> Convolution:
    """Conv1x1 (with bias) -> BatchNorm -> optional activation."""
    return Convolution(2, in_channels, out_channels, kernel_size=1, act=act, norm="batch", bias=True)


class HFFBlock(nn.Module):
    """HiFuse's hierarchical feature fusion block for one stage of width C, channels-first.

    With l the local feature, g the global feature (both C x H x W) and f the previous HFF output
    (C/2 x 2H x 2W, absent at stage 1):

    1. ``l' = ConvBN1x1(l)``, ``g' = ConvBN1x1(g)`` (separate weights, bias, no activation);
    2. previous-scale path: at later stages ``f' = AvgPool2x2(ReLU(ConvBN1x1(f)))`` (C/2 -> C), the shortcut is f'
       and ``X_f = GELU(ConvBN1x1(LN([f', l', g'])))`` (3C -> C); at stage 1 the shortcut is 0 and
       ``X_f = GELU(ConvBN1x1(LN([l', g'])))`` (2C -> C); LN is a channels-first LayerNorm (eps 1e-6);
    3. ``l_att = CBAMSpatialAttention(l)`` (7x7 conv), ``g_att = CBAMChannelAttention(g)``;
    4. ``out = shortcut + DropPath(IRMLP(LN([g_att, l_att, X_f])))`` (3C -> C).

    Args:
        channels: C; even unless ``first_stage``; ``channels // reduction`` must be at least 1.
        reduction: bottleneck ratio of the channel attention.
        first_stage: build the stage-1 form (no previous-scale input).
        irmlp_depthwise: make the IRMLP's 3x3 conv depthwise (see ``IRMLP``).
        drop_path: stochastic-depth probability of the IRMLP output.

    Input: l, g (B, C, H, W) and, unless ``first_stage``, f (B, C/2, 2H, 2W). Output: (B, C, H, W).
    """

    __constants__ = ["first_stage"]  # lets TorchScript skip the branch that uses w_prev/pool_prev on the first stage

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        *,
        first_stage: bool = False,
        irmlp_depthwise: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if channels < 1 or (not first_stage and channels % 2):
            raise ValueError(
                f"channels must be a positive integer, and even unless first_stage (f has channels // 2 channels), "
                f"got {channels}."
            )
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path}.")
        self.first_stage = first_stage
        self.w_local = _conv_bn(channels, channels)
        self.w_global = _conv_bn(channels, channels)
        if not first_stage:
            self.w_prev = _conv_bn(channels // 2, channels, act="relu")
            self.pool_prev = nn.AvgPool2d(2, stride=2)
        fused = 2 * channels if first_stage else 3 * channels
        self.norm_prev = LayerNorm2d(fused, eps=1e-6)
        self.proj_prev = _conv_bn(fused, channels)
        self.act = nn.GELU()
        self.spatial_attention = CBAMSpatialAttention(7)
        self.channel_attention = CBAMChannelAttention(channels, reduction)
        self.norm_fuse = LayerNorm2d(3 * channels, eps=1e-6)
        self.irmlp = IRMLP(3 * channels, channels, depthwise=irmlp_depthwise)
        self.drop_path = DropPath(drop_path)

    def forward(self, l: torch.Tensor, g: torch.Tensor, f: torch.Tensor | None = None) -> torch.Tensor:  # noqa: E741
        """
        Args:
            l: local feature (B, C, H, W).
            g: global feature (B, C, H, W).
            f: previous HFF output (B, C/2, 2H, 2W); must be None if and only if ``first_stage``.

        Returns:
            (B, C, H, W).
        """
        parts = [self.w_local(l), self.w_global(g)]
        shortcut: torch.Tensor | None = None
        if self.first_stage:
            if f is not None:
                raise ValueError("HFFBlock(first_stage=True) takes no previous-scale input f; pass f=None.")
        else:
            if f is None:
                raise ValueError("HFFBlock(first_stage=False) needs the previous HFF output f.")
            shortcut = self.pool_prev(self.w_prev(f))
            parts.insert(0, shortcut)
        x_f = self.act(self.proj_prev(self.norm_prev(torch.cat(parts, dim=1))))
        fused = torch.cat([self.channel_attention(g), self.spatial_attention(l), x_f], dim=1)
        out = self.drop_path(self.irmlp(self.norm_fuse(fused)))
        return out if shortcut is None else shortcut + out
