# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.cffn import CFFN
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_cffn_params(c: int, ratio: int = 4) -> int:
    """Spec §1.8 CFFN with hidden h = ratio * C; every conv has a bias except the mixing depthwise 3x3."""
    h = ratio * c
    expand = c * h + h
    gate = h + 1
    branches = 4 * (9 * (h // 4) + h // 4)
    mix = 9 * h + 2 * h  # depthwise 3x3 without bias, GRN gamma/beta
    project = h * c + c
    return expand + gate + branches + mix + project


def _grn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    norms = x.pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
    return gamma * (x * norms / (norms.mean(dim=1, keepdim=True) + 1e-6)) + beta + x


def reference_cffn(block: CFFN, x: torch.Tensor) -> torch.Tensor:
    expand = block.expand[0]
    hidden = F.gelu(F.conv2d(x, expand.weight, expand.bias))
    gate = torch.sigmoid(F.conv2d(hidden, block.gate[0].weight, block.gate[0].bias))
    width = hidden.shape[1] // 4
    feats = []
    for i in range(4):
        chunk = hidden[:, i * width : (i + 1) * width]
        inp = chunk if i == 0 else feats[-1] + chunk  # pre-add cascade
        conv = block.branches[i][0]
        feats.append(F.gelu(F.conv2d(inp, conv.weight, conv.bias, padding=1, groups=width)))
    u = torch.cat(feats, dim=1)
    u = u * gate + u
    u = F.gelu(F.conv2d(u, block.mix[0].weight, padding=1, groups=u.shape[1]))
    u = _grn(u, block.mix[2].gamma, block.mix[2].beta)
    return F.gelu(F.conv2d(u, block.project[0].weight, block.project[0].bias))


@pytest.mark.parametrize("channels,ratio", [(8, 4), (6, 2), (192, 4), (256, 4)])
def test_parameter_count_by_hand(channels, ratio):
    assert unique_parameter_count(CFFN(channels, ratio)) == expected_cffn_params(channels, ratio)


def test_cdfinet_stage3_count():
    assert unique_parameter_count(CFFN(192)) == 312_769  # spec §1.10: 0.313 M per MVBA-192 block


def test_matches_independent_recomputation():
    torch.manual_seed(0)
    block = CFFN(8)
    with torch.no_grad():  # non-zero GRN so that it is exercised
        block.mix[2].gamma.normal_()
        block.mix[2].beta.normal_()
    x = torch.randn(2, 8, 6, 5)
    y = block(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, reference_cffn(block, x), rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    block = CFFN(8)
    block(torch.randn(2, 8, 5, 5)).square().sum().backward()
    assert_all_parameters_have_grad(block)


@pytest.mark.parametrize("kwargs", [{"channels": 0}, {"channels": 3, "mlp_ratio": 1}, {"channels": 4, "mlp_ratio": 0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        CFFN(**kwargs)
