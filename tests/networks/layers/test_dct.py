# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import math

import pytest
import torch

from monai_fusion.networks.layers.dct import (
    TOP16_FREQUENCIES,
    dct_basis_1d,
    dct_basis_2d,
    dct_filter_bank,
    scale_frequencies,
)

# spec cdfinet_mfsf2net.md §3.2, in order
SPEC_TOP16 = [
    (0, 0), (0, 1), (6, 0), (0, 5), (0, 2), (1, 0), (1, 2), (4, 0),
    (5, 0), (1, 6), (3, 0), (0, 4), (0, 6), (0, 3), (3, 5), (2, 2),
]  # fmt: skip


def test_top16_matches_spec_in_order():
    assert list(TOP16_FREQUENCIES) == SPEC_TOP16


def test_1d_basis_values_by_hand():
    # L = 4, freq = 1: sqrt(2/4) * cos(pi * (pos + 0.5) / 4)
    expected = torch.tensor([math.sqrt(0.5) * math.cos(math.pi * (p + 0.5) / 4) for p in range(4)])
    torch.testing.assert_close(dct_basis_1d(1, 4), expected)
    torch.testing.assert_close(dct_basis_1d(0, 4), torch.full((4,), 0.5))


@pytest.mark.parametrize("h, w", [(7, 7), (4, 6)])
def test_2d_bases_are_orthonormal(h, w):
    bank = torch.stack([dct_basis_2d(u, v, h, w, torch.float64).flatten() for u in range(h) for v in range(w)])
    torch.testing.assert_close(bank @ bank.T, torch.eye(h * w, dtype=torch.float64))


def test_2d_axis_convention():
    # u indexes the height axis: B_{1,0} varies along rows and is constant along each row
    b = dct_basis_2d(1, 0, 7, 5)
    assert torch.allclose(b, b[:, :1].expand(7, 5))
    assert not torch.allclose(b, b[:1, :].expand(7, 5))
    torch.testing.assert_close(b, torch.outer(dct_basis_1d(1, 7), dct_basis_1d(0, 5)))


@pytest.mark.parametrize("size", [7, 14])
def test_dc_coefficient_is_gap_times_sqrt_hw(size):
    torch.manual_seed(0)
    x = torch.randn(3, size, size, dtype=torch.float64)
    coeff = (x * dct_basis_2d(0, 0, size, size, torch.float64)).sum(dim=(1, 2))
    torch.testing.assert_close(coeff, x.mean(dim=(1, 2)) * size)


def test_scale_frequencies():
    assert scale_frequencies([(1, 1), (6, 0)], 14) == [(2, 2), (12, 0)]
    assert scale_frequencies(TOP16_FREQUENCIES, 7) == SPEC_TOP16
    assert scale_frequencies([(1, 3)], 13) == [(1, 3)]  # 13 // 7 == 1
    with pytest.raises(ValueError, match="size"):
        scale_frequencies([(0, 0)], 6)


def test_filter_bank_and_errors():
    bank = dct_filter_bank(TOP16_FREQUENCIES, 7, 7)
    assert bank.shape == (16, 7, 7)
    torch.testing.assert_close(bank[2], dct_basis_2d(6, 0, 7, 7))
    with pytest.raises(ValueError, match="freq"):
        dct_basis_1d(7, 7)
    with pytest.raises(ValueError, match="frequencies"):
        dct_filter_bank([], 7, 7)
