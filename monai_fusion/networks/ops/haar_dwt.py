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
"""Single-level 2-D Haar DWT / IDWT, computed by strided slicing (any memory layout, no convolution).

The "frequency domain" of CDFINet is this transform (as the CDFINet authors describe it, after Wave-ViT's
``DWT_2D('haar')``, Yao et al., ECCV 2022; re-implemented from that description, no code copied). The four 2x2
filters are::

    LL = 1/2 [[1, 1], [1, 1]]      LH = 1/2 [[1, 1], [-1, -1]]
    HL = 1/2 [[1, -1], [1, -1]]    HH = 1/2 [[1, -1], [-1, 1]]

The DWT applies each filter to every non-overlapping 2x2 block of every channel (a depthwise stride-2 convolution)
and concatenates the subbands on channels in the order ``[LL | LH | HL | HH]``: (B, C, H, W) -> (B, 4C, H/2, W/2).
The IDWT is the adjoint (a depthwise stride-2 transposed convolution with the same filters); because the filters are
orthonormal it is also the exact inverse. Gradients come from autograd: the backward of each is the other transform.

Both are written as a butterfly over the four strided views ``x[..., i::2, j::2]`` instead of a grouped convolution:
element-wise ops keep the memory layout of their input, so a channels-last (NHWC) tensor stays channels-last and a
contiguous one stays contiguous, with no reshape that would force a copy into NCHW. The results equal the
convolution form (:func:`haar_filters`) up to float rounding.

Shape constraints: H and W must be even.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["haar_filters", "haar_dwt2d", "haar_idwt2d", "HaarDWT2d", "HaarIDWT2d"]


def haar_filters(dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """The four Haar analysis filters, stacked as (4, 1, 2, 2) in the order LL, LH, HL, HH.

    :func:`haar_dwt2d` equals ``F.conv2d`` of each channel with these filters at stride 2 (the tests check it).
    """
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


def haar_dwt2d(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2) with subbands [LL | LH | HL | HH] on channels, in the input's memory layout."""
    if x.dim() != 4:
        raise ValueError(f"haar_dwt2d expects a 4-D (B, C, H, W) tensor, got shape {list(x.shape)}.")
    h, w = x.shape[2], x.shape[3]
    if h % 2 or w % 2:
        raise ValueError(f"haar_dwt2d needs even H and W, got {h}x{w}; resize or pad the input.")
    x = x * 0.5
    top = x[:, :, 0::2]
    bottom = x[:, :, 1::2]
    top_sum, top_diff = top[..., 0::2] + top[..., 1::2], top[..., 0::2] - top[..., 1::2]
    bottom_sum, bottom_diff = bottom[..., 0::2] + bottom[..., 1::2], bottom[..., 0::2] - bottom[..., 1::2]
    return torch.cat(
        [top_sum + bottom_sum, top_sum - bottom_sum, top_diff + bottom_diff, top_diff - bottom_diff], dim=1
    )


def haar_idwt2d(x: torch.Tensor) -> torch.Tensor:
    """(B, 4C, h, w) with subbands [LL | LH | HL | HH] -> (B, C, 2h, 2w); the inverse of :func:`haar_dwt2d`.

    The output has the input's memory layout (channels-last in, channels-last out).
    """
    if x.dim() != 4 or x.shape[1] % 4:
        raise ValueError(f"haar_idwt2d expects (B, 4C, h, w) with channels divisible by 4, got {list(x.shape)}.")
    b, c4, h, w = x.shape
    c = c4 // 4
    ll, lh, hl, hh = torch.chunk(x * 0.5, 4, dim=1)
    low_sum, low_diff = ll + lh, ll - lh  # top row (+LH) and bottom row (-LH) of each 2x2 block
    high_sum, high_diff = hl + hh, hl - hh
    # the four pixels of each block: (0, 0), (0, 1), (1, 0), (1, 1)
    pixels = [low_sum + high_sum, low_sum - high_sum, low_diff + high_diff, low_diff - high_diff]
    if c > 1 and x.is_contiguous(memory_format=torch.channels_last):
        # interleave in the NHWC view: (B, h, 2, w, 2, C) is contiguous, so the result is channels-last for free
        nhwc = [p.permute(0, 2, 3, 1) for p in pixels]
        rows = torch.stack([torch.stack(nhwc[0:2], dim=3), torch.stack(nhwc[2:4], dim=3)], dim=2)
        return rows.reshape(b, 2 * h, 2 * w, c).permute(0, 3, 1, 2)
    rows = torch.stack([torch.stack(pixels[0:2], dim=-1), torch.stack(pixels[2:4], dim=-1)], dim=-3)
    return rows.reshape(b, c, 2 * h, 2 * w)


class HaarDWT2d(nn.Module):
    """Haar DWT layer, (B, C, H, W) -> (B, 4C, H/2, W/2), subbands [LL | LH | HL | HH]; H and W must be even."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return haar_dwt2d(x)


class HaarIDWT2d(nn.Module):
    """Haar IDWT layer, (B, 4C, h, w) -> (B, C, 2h, 2w); the exact inverse of :class:`HaarDWT2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return haar_idwt2d(x)
