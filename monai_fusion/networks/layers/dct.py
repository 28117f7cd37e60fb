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
"""FcaNet's orthonormal DCT-II basis and its "top16" frequency ranking.

Paper: "FcaNet: Frequency Channel Attention Networks" (Qin et al., ICCV 2021); used by MADGNet (CVPR 2024) and MFSF2-Net
("MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion", 2025).
Re-implemented from the FcaNet paper's description; no code copied.

Conventions: ``b(pos, freq, L) = cos(pi * freq * (pos + 1/2) / L) / sqrt(L)``, times ``sqrt(2)`` when ``freq != 0``
(orthonormal DCT-II). The 2-D basis is ``B_{u,v}(i, j) = b(i, u, H) * b(j, v, W)``: ``u`` indexes the height axis
and ``v`` the width axis. Frequency lists are defined on a 7x7 grid; for a grid of size ``h`` the indices are
multiplied by ``h // 7``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["TOP16_FREQUENCIES", "dct_basis_1d", "dct_basis_2d", "dct_filter_bank", "scale_frequencies"]

#: FcaNet's 16 best single frequencies (u, v) on the 7x7 grid, best first (FcaNet's ranking).
TOP16_FREQUENCIES: tuple[tuple[int, int], ...] = (
    (0, 0),
    (0, 1),
    (6, 0),
    (0, 5),
    (0, 2),
    (1, 0),
    (1, 2),
    (4, 0),
    (5, 0),
    (1, 6),
    (3, 0),
    (0, 4),
    (0, 6),
    (0, 3),
    (3, 5),
    (2, 2),
)

_BASE_GRID = 7


def dct_basis_1d(freq: int, length: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Orthonormal 1-D DCT-II basis vector.

    Args:
        freq: frequency index, ``0 <= freq < length``.
        length: number of samples L.
        dtype: floating dtype of the result.

    Returns:
        (L,) tensor ``b(pos, freq, L)`` for ``pos = 0..L-1``.
    """
    if length < 1:
        raise ValueError(f"dct_basis_1d: length must be >= 1, got {length}.")
    if not 0 <= freq < length:
        raise ValueError(f"dct_basis_1d: freq must lie in [0, length={length}), got {freq}.")
    pos = torch.arange(length, dtype=torch.float64)
    basis = torch.cos(math.pi * freq * (pos + 0.5) / length) / math.sqrt(length)
    if freq != 0:
        basis = basis * math.sqrt(2.0)
    return basis.to(dtype)


def dct_basis_2d(u: int, v: int, h: int, w: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Orthonormal 2-D DCT-II basis ``B_{u,v}`` on an h x w grid.

    Args:
        u: frequency along the height axis, ``0 <= u < h``.
        v: frequency along the width axis, ``0 <= v < w``.
        h: grid height.
        w: grid width.
        dtype: floating dtype of the result.

    Returns:
        (h, w) tensor with ``B[i, j] = b(i, u, h) * b(j, v, w)``.
    """
    return torch.outer(dct_basis_1d(u, h, torch.float64), dct_basis_1d(v, w, torch.float64)).to(dtype)


def scale_frequencies(
    frequencies: tuple[tuple[int, int], ...] | list[tuple[int, int]], size: int
) -> list[tuple[int, int]]:
    """Map (u, v) pairs defined on the 7x7 grid to a grid of size ``size`` by multiplying them by ``size // 7``.

    Args:
        frequencies: (u, v) pairs on the 7x7 grid.
        size: side of the target DCT grid; must be >= 7.

    Returns:
        The scaled pairs, e.g. (1, 1) -> (2, 2) for ``size=14``.
    """
    if size < _BASE_GRID:
        raise ValueError(f"scale_frequencies: size must be >= {_BASE_GRID} (the lists live on a 7x7 grid), got {size}.")
    factor = size // _BASE_GRID
    return [(u * factor, v * factor) for u, v in frequencies]


def dct_filter_bank(
    frequencies: tuple[tuple[int, int], ...] | list[tuple[int, int]], h: int, w: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Stack the 2-D DCT bases of the given (already scaled) frequencies.

    Args:
        frequencies: (u, v) pairs valid on an h x w grid.
        h: grid height.
        w: grid width.
        dtype: floating dtype of the result.

    Returns:
        (len(frequencies), h, w) tensor.
    """
    if len(frequencies) == 0:
        raise ValueError("dct_filter_bank: frequencies must hold at least one (u, v) pair.")
    return torch.stack([dct_basis_2d(u, v, h, w, dtype) for u, v in frequencies])
