# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.dual_downsample import DualDownsample
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_downsample_params(cin: int, cout: int) -> int:
    """Spec §1.2: conv3x3 (bias) + BN, and conv1x1 (no bias) + BN."""
    return (9 * cin * cout + cout + 2 * cout) + (cin * cout + 2 * cout)


@pytest.mark.parametrize("cin,cout,expected", [(64, 128, 82_560), (128, 192, 246_720), (192, 256, 492_800)])
def test_cdfinet_counts(cin, cout, expected):
    # spec §1.10: Down 1/2/3 = 82.6 K / 246.7 K / 492.8 K
    assert expected_downsample_params(cin, cout) == expected
    assert unique_parameter_count(DualDownsample(cin, cout)) == expected


@pytest.mark.parametrize("size,out_size", [((8, 8), (4, 4)), ((7, 10), (4, 5))])
def test_matches_independent_recomputation(size, out_size):
    torch.manual_seed(0)
    block = DualDownsample(4, 6).eval()
    with torch.no_grad():
        for bn in (block.conv_branch[1], block.pool_branch[2]):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 4, *size)
    y = block(x)
    assert y.shape == (2, 6, *out_size)

    def bn(z, m):
        return F.batch_norm(z, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    conv = block.conv_branch[0]
    a = F.gelu(bn(F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1), block.conv_branch[1]))
    pooled = F.max_pool2d(x, 3, stride=2, padding=1)
    b = F.gelu(bn(F.conv2d(pooled, block.pool_branch[1].weight), block.pool_branch[2]))
    torch.testing.assert_close(y, a + b)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    block = DualDownsample(4, 6)
    block(torch.randn(2, 4, 8, 8)).square().sum().backward()
    assert_all_parameters_have_grad(block)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        DualDownsample(0, 4)
