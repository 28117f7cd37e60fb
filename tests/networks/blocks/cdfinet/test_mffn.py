# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.mffn import MFFN
from tests.networks.helpers import bn_eval, randomize_bn
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_mffn_params(c: int, mlp_ratio: int = 4) -> int:
    """Spec §1.7: expand 1x1 (+bias) + BN; 4 DW branches (+bias); gate; DW3x3 no bias; GRN; 1x1 (+bias) + BN."""
    hidden = mlp_ratio * c
    part = hidden // 4
    expand = hidden * c + hidden + 2 * hidden
    branches = 3 * (part * 9 + part) + (part * 25 + part)
    gate = hidden + 1
    mix = hidden * 9 + 2 * hidden
    proj = c * hidden + c + 2 * c
    return expand + branches + gate + mix + proj


def _manual_mffn(block: MFFN, x: torch.Tensor, with_grn: bool) -> torch.Tensor:
    """Spec §1.7 step by step, in eval mode, with the (kernel, dilation) table written out independently."""
    t = F.gelu(bn_eval(F.conv2d(x, block.expand[0].weight, block.expand[0].bias), block.expand[1]))
    chunks = torch.chunk(t, 4, dim=1)
    part = chunks[0].shape[1]
    outs, prev = [], None
    for (k, d), chunk, branch in zip([(3, 1), (3, 2), (3, 3), (5, 2)], chunks, block.branches):
        conv = branch[0]
        assert conv.weight.shape == (part, 1, k, k)
        o = F.gelu(F.conv2d(chunk, conv.weight, conv.bias, padding=d * (k // 2), dilation=d, groups=part))
        prev = o if prev is None else o + prev
        outs.append(prev)
    u = torch.cat(outs, 1)
    u = u * torch.sigmoid(F.conv2d(t, block.gate.weight, block.gate.bias)) + u
    u = F.gelu(F.conv2d(u, block.mix[0].weight, None, padding=1, groups=u.shape[1]))
    if with_grn:
        grn = block.mix[2]
        gx = u.square().sum(dim=(2, 3), keepdim=True).sqrt()
        nx = gx / (gx.mean(dim=1, keepdim=True) + 1e-6)
        u = grn.gamma * (u * nx) + grn.beta + u
    return F.gelu(bn_eval(F.conv2d(u, block.proj[0].weight, block.proj[0].bias), block.proj[1]))


@pytest.mark.parametrize("shape", [(2, 8, 8, 8), (2, 8, 8, 12), (1, 16, 5, 7)])
def test_shape(shape):
    torch.manual_seed(0)
    assert MFFN(shape[1])(torch.randn(shape)).shape == shape


@pytest.mark.parametrize("channels, mlp_ratio", [(8, 4), (16, 4), (8, 2), (64, 4)])
def test_parameter_count_by_hand(channels, mlp_ratio):
    assert unique_parameter_count(MFFN(channels, mlp_ratio)) == expected_mffn_params(channels, mlp_ratio)


@pytest.mark.parametrize("channels, target_k, tol_k", [(64, 40.4, 0.05), (128, 146, 0.5)])
def test_parameter_count_matches_spec_table(channels, target_k, tol_k):
    # spec §1.10: MFFN 40.4 K at stage 1 (d=64) and 146 K at stage 2 (d=128); tolerance = half the last digit shown
    assert abs(unique_parameter_count(MFFN(channels)) / 1000 - target_k) <= tol_k


def test_gradient_reaches_every_parameter():
    torch.manual_seed(1)
    block = MFFN(8)
    x = torch.randn(2, 8, 8, 12, requires_grad=True)
    block(x).square().sum().backward()
    assert_all_parameters_have_grad(block)
    assert x.grad is not None


def test_grn_is_identity_at_init():
    torch.manual_seed(2)
    block = MFFN(8).eval()
    randomize_bn(block)
    x = torch.randn(2, 8, 8, 12)
    grn = block.mix[2]
    assert torch.count_nonzero(grn.gamma) == 0 and torch.count_nonzero(grn.beta) == 0
    # at init the block equals the same pipeline without the GRN step
    torch.testing.assert_close(block(x), _manual_mffn(block, x, with_grn=False))


def test_matches_manual_recomputation_with_trained_grn():
    torch.manual_seed(3)
    block = MFFN(8).eval()
    randomize_bn(block)
    with torch.no_grad():
        block.mix[2].gamma.normal_()
        block.mix[2].beta.normal_()
    x = torch.randn(2, 8, 10, 6)
    out = block(x)
    torch.testing.assert_close(out, _manual_mffn(block, x, with_grn=True))
    assert not torch.allclose(out, _manual_mffn(block, x, with_grn=False))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mlp_ratio"):
        MFFN(6, mlp_ratio=1)
    with pytest.raises(ValueError, match="channels"):
        MFFN(0)
