# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.lfds import LFDS
from tests.networks.helpers import bn_eval, randomize_bn
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_lfds_params(c: int, k: int = 9) -> int:
    """Spec §1.5: 1x1 no bias + BN; DW3x3 (+bias) + BN; four subband DWs with bias; fuse_H; gate; 1x1 no bias + BN."""
    proj_in = c * c + 2 * c
    spatial = c * 9 + c + 2 * c
    subbands = 2 * (c * 9 + c) + 2 * (c * k + c)
    fuse_high = (3 * c * 3 * c + 3 * c) + 2 * 3 * c + (3 * c * 9 + 3 * c)
    gate = 3 * c + 1
    proj_out = 2 * c * c + 2 * c
    return proj_in + spatial + subbands + fuse_high + gate + proj_out


def _manual_dwt(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return torch.cat([a + b + c + d, a + b - c - d, a - b + c - d, a - b - c + d], dim=1) / 2


def _manual_idwt(y: torch.Tensor) -> torch.Tensor:
    ll, lh, hl, hh = torch.chunk(y, 4, dim=1)
    b, c, h, w = ll.shape
    out = y.new_zeros(b, c, 2 * h, 2 * w)
    out[..., 0::2, 0::2] = (ll + lh + hl + hh) / 2
    out[..., 0::2, 1::2] = (ll + lh - hl - hh) / 2
    out[..., 1::2, 0::2] = (ll - lh + hl - hh) / 2
    out[..., 1::2, 1::2] = (ll - lh - hl + hh) / 2
    return out


@pytest.mark.parametrize("shape", [(2, 8, 8, 8), (2, 8, 8, 12), (1, 16, 6, 4)])
def test_shape(shape):
    torch.manual_seed(0)
    assert LFDS(shape[1])(torch.randn(shape)).shape == shape


@pytest.mark.parametrize("channels, kernel_size", [(8, 9), (16, 9), (8, 5), (64, 9)])
def test_parameter_count_by_hand(channels, kernel_size):
    assert unique_parameter_count(LFDS(channels, kernel_size)) == expected_lfds_params(channels, kernel_size)


@pytest.mark.parametrize("channels, target_k, tol_k", [(64, 55.4, 0.05), (128, 209, 0.5)])
def test_parameter_count_matches_spec_table(channels, target_k, tol_k):
    # spec §1.10: LFDS 55.4 K at stage 1 (d=64) and 209 K at stage 2 (d=128); tolerance = half the last digit shown
    assert abs(unique_parameter_count(LFDS(channels)) / 1000 - target_k) <= tol_k


def test_asymmetric_kernels():
    block = LFDS(8, kernel_size=7)
    assert block.conv_lh.weight.shape == (8, 1, 1, 7)
    assert block.conv_hl.weight.shape == (8, 1, 7, 1)
    assert block.conv_ll.weight.shape == block.conv_hh.weight.shape == (8, 1, 3, 3)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(1)
    block = LFDS(8)
    x = torch.randn(2, 8, 8, 12, requires_grad=True)
    block(x).square().sum().backward()
    assert_all_parameters_have_grad(block)
    assert x.grad is not None


def test_matches_manual_recomputation():
    torch.manual_seed(2)
    c, k = 8, 9
    block = LFDS(c, k).eval()
    randomize_bn(block)
    x = torch.randn(2, c, 8, 12)

    t = F.gelu(bn_eval(F.conv2d(x, block.proj_in[0].weight), block.proj_in[1]))
    dw = block.spatial[0]
    x_s = F.gelu(bn_eval(F.conv2d(t, dw.weight, dw.bias, padding=1, groups=c), block.spatial[1]))

    ll, lh, hl, hh = torch.chunk(_manual_dwt(t), 4, dim=1)
    ll = F.conv2d(ll, block.conv_ll.weight, block.conv_ll.bias, padding=1, groups=c)
    lh = F.conv2d(lh, block.conv_lh.weight, block.conv_lh.bias, padding=(0, k // 2), groups=c)
    hl = F.conv2d(hl, block.conv_hl.weight, block.conv_hl.bias, padding=(k // 2, 0), groups=c)
    hh = F.conv2d(hh, block.conv_hh.weight, block.conv_hh.bias, padding=1, groups=c)
    x_low, x_high = F.gelu(ll), F.gelu(torch.cat([lh, hl, hh], 1))

    fh = block.fuse_high
    x_high = F.gelu(bn_eval(F.conv2d(x_high, fh[0].weight, fh[0].bias), fh[1]))
    x_high = F.gelu(F.conv2d(x_high, fh[3].weight, fh[3].bias, padding=1, groups=3 * c))
    g = torch.sigmoid(F.conv2d(x_high, block.gate.weight, block.gate.bias))
    g = F.interpolate(g, size=x.shape[-2:], mode="bilinear", align_corners=False)
    x_i = _manual_idwt(torch.cat([x_low, x_high], 1))
    out = F.gelu(bn_eval(F.conv2d(torch.cat([g * x_s, x_i], 1), block.proj_out[0].weight), block.proj_out[1]))

    torch.testing.assert_close(block(x), out)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size"):
        LFDS(8, kernel_size=8)
    with pytest.raises(ValueError, match="channels"):
        LFDS(0)
