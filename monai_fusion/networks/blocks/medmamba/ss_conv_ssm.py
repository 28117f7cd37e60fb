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
"""SS-Conv-SSM block of MedMamba (current version): a convolution half and an SS2D half, shuffled and added.

Yue & Li, "MedMamba: Vision Mamba for Medical Image Classification", arXiv:2403.03849 (code: YubiaoYue/MedMamba, no
licence file). Re-implemented from the paper's description; no code copied.

Spatial shape constraints: none; any H and W >= 1. ``channels`` must be even.
"""

from __future__ import annotations

import torch
from monai.networks.layers import DropPath
from torch import nn

from monai_fusion.networks.blocks.ss2d import SS2D
from monai_fusion.networks.layers.channel_shuffle import channel_shuffle

__all__ = ["SSConvSSMBlock"]


class SSConvSSMBlock(nn.Module):
    """MedMamba's SS-Conv-SSM block, channels-last.

    The input X (B, H, W, C) is split into halves along the channels:

    - conv branch (first C/2): BN, conv3x3 + BN + ReLU, conv3x3 + BN + ReLU, conv1x1 + ReLU (convs with bias);
    - SSM branch (last C/2): DropPath(SS2D(LayerNorm(right))), with no residual of its own.

    Then ``out = channel_shuffle(concat[conv, ssm], groups=2) + X``: the residual is added after the shuffle, so
    output channel 2i is conv channel i plus X[..., 2i], and 2i+1 is SSM channel i plus X[..., 2i+1].

    Args:
        channels: C (even).
        d_state: N, the SSM state size of the SS2D.
        drop_path: stochastic-depth probability of the SSM branch.
        scan_backend: backend of ``selective_scan``: ``"auto"``, ``"reference"``, ``"torch"`` or ``"cuda"``.

    Input and output: (B, H, W, C).
    """

    def __init__(self, channels: int, d_state: int = 16, drop_path: float = 0.0, scan_backend: str = "auto") -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"channels must be a positive even integer (it is split in halves), got {channels}.")
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path}.")
        half = channels // 2
        self.ssm_norm = nn.LayerNorm(half, eps=1e-5)
        self.ssm = SS2D(half, d_state=d_state, scan_backend=scan_backend)
        self.drop_path = DropPath(drop_path)
        self.conv_branch = nn.Sequential(
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 3, padding=1),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, padding=1),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x.chunk(2, dim=-1)
        right = self.drop_path(self.ssm(self.ssm_norm(right)))
        left = self.conv_branch(left.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # convs on the channels-last view
        out = torch.cat([left, right], dim=-1)
        return channel_shuffle(out, 2, channel_dim=-1) + x
