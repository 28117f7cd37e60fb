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
"""CFFN, the cascaded gated feed-forward network of CDFINet's MVBA block.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1d and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). The branch cascade is Res2Net-style (Gao et al., TPAMI 2019);
GRN is from ConvNeXt-V2. Re-implemented from the authors' published description (figures, README); no code copied.

The upstream model registers the same CFFN object twice in each MVBA block; here it is one module (one set of
weights), which is what the authors' network trains.

Shape constraints: none; any H, W.
"""

from __future__ import annotations

import torch
from torch import nn

from monai_fusion.networks.layers.grn import GRN

__all__ = ["CFFN"]

_NUM_BRANCHES = 4


class CFFN(nn.Module):
    """Cascaded gated FFN: expand, gate, a 4-branch pre-add depthwise cascade, GRN, project back.

    1. ``X = GELU(conv1x1(x))`` (C -> hidden = ``mlp_ratio * C``, with bias); ``gate = sigmoid(conv1x1(X))``
       (hidden -> 1, with bias).
    2. Split X into 4 chunks ``c_1..c_4`` of hidden / 4 channels. Pre-add cascade: ``f_1 = dw_1(c_1)``,
       ``f_i = dw_i(f_{i-1} + c_i)``, each ``dw_i`` a depthwise 3x3 conv (with bias) + GELU.
    3. ``U = concat[f_1..f_4]``; ``U = U * gate + U``.
    4. Depthwise 3x3 (no bias) + GELU + GRN, then conv1x1 (hidden -> C, with bias) + GELU.

    Args:
        channels: C, the input and output channel count.
        mlp_ratio: hidden = ``mlp_ratio * channels``; the hidden width must be divisible by 4 (the branches).

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        hidden = mlp_ratio * channels
        if channels < 1 or mlp_ratio < 1 or hidden % _NUM_BRANCHES:
            raise ValueError(
                f"CFFN: channels ({channels}) and mlp_ratio ({mlp_ratio}) must be positive, with mlp_ratio * channels "
                f"divisible by {_NUM_BRANCHES} (the cascade branches)."
            )
        width = hidden // _NUM_BRANCHES
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU())
        self.gate = nn.Sequential(nn.Conv2d(hidden, 1, 1), nn.Sigmoid())
        self.branches = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(width, width, 3, padding=1, groups=width), nn.GELU())
                for _ in range(_NUM_BRANCHES)
            ]
        )
        self.mix = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False), nn.GELU(), GRN(hidden)
        )
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(x)
        gate = self.gate(x)
        chunks = x.chunk(len(self.branches), dim=1)  # _NUM_BRANCHES; TorchScript cannot read module globals
        outputs: list[torch.Tensor] = []
        for i, branch in enumerate(self.branches):
            outputs.append(branch(chunks[i] if i == 0 else outputs[-1] + chunks[i]))
        u = torch.cat(outputs, dim=1)
        u = u * gate + u
        return self.project(self.mix(u))
