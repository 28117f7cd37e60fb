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
"""LGFS (Local-Global Frequency-domain Scan), the stage-1/2 block of CDFINet.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1a and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). Re-implemented from the authors' published description
(figures, README); no code copied. GRN is ConvNeXt-V2's (Woo et al., CVPR 2023).

Shape constraints: input (B, C, H, W) with H and W even (the LFDS/GFDS branches use one Haar DWT level).
"""

from __future__ import annotations

import torch
from torch import nn

from monai_fusion.networks.blocks.cdfinet.dfs import DFS
from monai_fusion.networks.blocks.cdfinet.gfds import GFDS
from monai_fusion.networks.blocks.cdfinet.lfds import LFDS
from monai_fusion.networks.blocks.cdfinet.mffn import MFFN
from monai_fusion.networks.layers.grn import GRN

__all__ = ["LGFSBlock"]


class LGFSBlock(nn.Module):
    """Local-global frequency-domain scan block: LFDS and GFDS branches, DFS selection, fusion, MFFN.

    1. ``x_l = LFDS(X)``; ``x_g = GFDS(LayerNorm(X))`` (channels-last LayerNorm, eps 1e-5).
    2. ``(a, b, x_d) = DFS(x_l, x_g)``.
    3. ``y = X + P(DW(a + b + x_d))`` with ``DW = GRN(GELU(DW3x3))`` and ``P = GELU(BN(conv1x1))``.
    4. ``out = y + MFFN(y)``.

    There is no stochastic depth (CDFINet uses ``drop_path_rate=0``).

    Args:
        channels: C, the input and output channel count; must be even (DFS halves it).
        kernel_size: k of the asymmetric 1xk / kx1 depthwise kernels in LFDS and GFDS; a positive odd number.
        d_state: N, the SSM state size of the two SS2D cores in GFDS.
        mlp_ratio: hidden width of the MFFN as a multiple of C.
        scan_backend: backend of the selective scan: ``"auto"``, ``"reference"``, ``"torch"`` or ``"cuda"``.

    Input: (B, C, H, W), H and W even. Output: (B, C, H, W).
    """

    def __init__(
        self, channels: int, kernel_size: int = 9, d_state: int = 16, mlp_ratio: int = 4, scan_backend: str = "auto"
    ) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"LGFSBlock: channels must be a positive even number (DFS halves it), got {channels}.")
        self.lfds = LFDS(channels, kernel_size=kernel_size)
        self.norm = nn.LayerNorm(channels, eps=1e-5)
        self.gfds = GFDS(channels, kernel_size=kernel_size, d_state=d_state, scan_backend=scan_backend)
        self.dfs = DFS(channels)
        self.dw = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.GELU(), GRN(channels))
        self.proj = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.GELU())
        self.mffn = MFFN(channels, mlp_ratio=mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_l = self.lfds(x)
        x_g = self.gfds(self.norm(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        a, b, x_d = self.dfs(x_l, x_g)
        y = x + self.proj(self.dw(a + b + x_d))
        return y + self.mffn(y)
