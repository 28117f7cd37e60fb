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
"""MFFN, the multi-scale gated feed-forward network of CDFINet's LGFS block (figure-faithful 4-branch version).

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 1a and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). The released MFFN class cannot run, so this follows the figure:
four dilated depthwise branches with a post-add cascade. Re-implemented from the authors' published description
(figures, README); no code copied. GRN is ConvNeXt-V2's (Woo et al., CVPR 2023).

Shape constraints: input (B, C, H, W), any H and W.
"""

from __future__ import annotations

import torch
from torch import nn

from monai_fusion.networks.layers.grn import GRN

__all__ = ["MFFN"]

# (kernel size, dilation) of the four depthwise branches.
_BRANCHES = ((3, 1), (3, 2), (3, 3), (5, 2))


class MFFN(nn.Module):
    """Multi-scale gated FFN: expand, four dilated depthwise branches with a post-add cascade, gate, project.

    1. ``t = GELU(BN(conv1x1(x)))`` (C -> hidden = ``mlp_ratio`` * C); split into 4 chunks ``c_1..c_4``.
    2. Branches ``b_i = GELU(DW(c_i))``: 3x3 dilation 1, 3x3 dilation 2, 3x3 dilation 3, 5x5 dilation 2 (padding
       ``dilation * (k // 2)``). Post-add cascade: ``o_1 = b_1(c_1)``, ``o_i = b_i(c_i) + o_{i-1}``; ``U = concat(o)``.
    3. Gate from the expanded tensor: ``U = U * sigmoid(conv1x1(t)) + U`` (hidden -> 1).
    4. ``GRN(GELU(DW3x3(U)))`` (no bias), then ``GELU(BN(conv1x1(.)))`` (hidden -> C).

    The outer residual is added by the caller (LGFS).

    Args:
        channels: C, the input and output channel count.
        mlp_ratio: hidden width as a multiple of C; ``mlp_ratio * channels`` must be divisible by 4.

    Input: (B, C, H, W). Output: (B, C, H, W), the branch output without the residual.
    """

    def __init__(self, channels: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"MFFN: channels must be a positive integer, got {channels}.")
        if mlp_ratio < 1 or (mlp_ratio * channels) % 4:
            raise ValueError(
                f"MFFN: mlp_ratio * channels must be a positive multiple of 4 (four branches), got "
                f"mlp_ratio={mlp_ratio}, channels={channels}; pick a mlp_ratio such as 4."
            )
        hidden = mlp_ratio * channels
        part = hidden // 4
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.GELU())
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(part, part, k, padding=d * (k // 2), dilation=d, groups=part), nn.GELU())
            for k, d in _BRANCHES
        )
        self.gate = nn.Conv2d(hidden, 1, 1)
        self.mix = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False), nn.GELU(), GRN(hidden)
        )
        self.proj = nn.Sequential(nn.Conv2d(hidden, channels, 1), nn.BatchNorm2d(channels), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.expand(x)
        chunks = torch.chunk(t, 4, dim=1)
        outs: list[torch.Tensor] = []
        for i, branch in enumerate(self.branches):  # enumerate: TorchScript cannot zip a ModuleList with a list
            y = branch(chunks[i])
            outs.append(y if i == 0 else y + outs[i - 1])
        u = torch.cat(outs, dim=1)
        u = u * torch.sigmoid(self.gate(t)) + u
        return self.proj(self.mix(u))
