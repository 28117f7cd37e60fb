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
"""Single-level 2-D Haar DWT / IDWT as fixed depthwise stride-2 convolutions.

The "frequency domain" of CDFINet is this transform (as the CDFINet authors describe it, after Wave-ViT's
``DWT_2D('haar')``, Yao et al., ECCV 2022; re-implemented from that description, no code copied). The four 2x2
filters are::

    LL = 1/2 [[1, 1], [1, 1]]      LH = 1/2 [[1, 1], [-1, -1]]
    HL = 1/2 [[1, -1], [1, -1]]    HH = 1/2 [[1, -1], [-1, 1]]

The DWT applies each filter depthwise with stride 2 and concatenates the subbands on channels in the order
``[LL | LH | HL | HH]``: (B, C, H, W) -> (B, 4C, H/2, W/2). The IDWT is the adjoint (a depthwise transposed conv with
the same filters); because the filters are orthonormal it is also the exact inverse. Gradients come from autograd:
the backward of each is the other transform.

Shape constraints: H and W must be even.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["haar_filters", "haar_dwt2d", "haar_idwt2d", "HaarDWT2d", "HaarIDWT2d"]


def haar_filters(dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """The four Haar analysis filters, stacked as (4, 1, 2, 2) in the order LL, LH, HL, HH."""
    filters = torch.tensor(
        [
            [[1.0, 1.0], [1.0, 1.0]],  # LL
            [[1.0, 1.0], [-1.0, -1.0]],  # LH
            [[1.0, -1.0], [1.0, -1.0]],  # HL
            [[1.0, -1.0], [-1.0, 1.0]],  # HH
        ],
        dtype=dtype,
        device=device,
    )
    return (0.5 * filters).unsqueeze(1)


def haar_dwt2d(x: torch.Tensor, filters: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2) with subbands [LL | LH | HL | HH] on channels."""
    if x.dim() != 4:
        raise ValueError(f"haar_dwt2d expects a 4-D (B, C, H, W) tensor, got shape {list(x.shape)}.")
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"haar_dwt2d needs even H and W, got {h}x{w}; resize or pad the input.")
    if filters is None:
        filters = haar_filters(x.dtype, x.device)
    y = F.conv2d(x.reshape(b * c, 1, h, w), filters.to(x.dtype), stride=2)  # (B*C, 4, h, w)
    return y.reshape(b, c, 4, h // 2, w // 2).transpose(1, 2).reshape(b, 4 * c, h // 2, w // 2)


def haar_idwt2d(x: torch.Tensor, filters: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 4C, h, w) with subbands [LL | LH | HL | HH] -> (B, C, 2h, 2w); the inverse of :func:`haar_dwt2d`."""
    if x.dim() != 4 or x.shape[1] % 4:
        raise ValueError(f"haar_idwt2d expects (B, 4C, h, w) with channels divisible by 4, got {list(x.shape)}.")
    b, c4, h, w = x.shape
    c = c4 // 4
    if filters is None:
        filters = haar_filters(x.dtype, x.device)
    y = x.reshape(b, 4, c, h, w).transpose(1, 2).reshape(b * c, 4, h, w)
    return F.conv_transpose2d(y, filters.to(x.dtype), stride=2).reshape(b, c, 2 * h, 2 * w)


class HaarDWT2d(nn.Module):
    """Haar DWT layer, (B, C, H, W) -> (B, 4C, H/2, W/2), subbands [LL | LH | HL | HH]; H and W must be even."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filters", haar_filters(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return haar_dwt2d(x, self.filters)


class HaarIDWT2d(nn.Module):
    """Haar IDWT layer, (B, 4C, h, w) -> (B, C, 2h, 2w); the exact inverse of :class:`HaarDWT2d`."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filters", haar_filters(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return haar_idwt2d(x, self.filters)
