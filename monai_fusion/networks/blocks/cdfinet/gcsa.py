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
"""GCSA, the global channel self-attention of CDFINet's MVBA attention.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 2c and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). Re-implemented from the authors' published description
(figures, README); no code copied.

Shape constraints: none; any H, W (the cost is linear in H * W and quadratic in C).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GCSA"]


class GCSA(nn.Module):
    """Single-head self-attention across channels: a (C, C) attention map over N = H * W positions.

    ``q, k, v = split(conv1x1(x))`` (C -> 3C, no bias, in that channel order), each flattened to (C, N);
    ``out = softmax(q k^T * N^-0.5) v``, reshaped back to (C, H, W).

    Args:
        channels: C.

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"GCSA: channels must be positive, got {channels}.")
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).flatten(2).chunk(3, dim=1)  # each (B, C, N)
        attn = (q @ k.transpose(1, 2)) * (h * w) ** -0.5
        return (attn.softmax(dim=-1) @ v).reshape(b, c, h, w)
