# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.hifuse.irmlp import IRMLP
from tests.networks.helpers import bn_eval
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_irmlp_params(cin: int, cout: int, depthwise: bool) -> int:
    """Spec §1.4: conv1 3x3 (dense cin*cin*9 or depthwise cin*9), BN(cin), conv 1x1 cin->4cin, conv 1x1 4cin->cout,
    BN(cout); no conv biases."""
    conv1 = cin * 9 if depthwise else cin * cin * 9
    return conv1 + 2 * cin + cin * 4 * cin + 4 * cin * cout + 2 * cout


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("cin, cout", [(12, 4), (2304, 768)])
def test_parameter_count_by_hand(cin, cout, depthwise):
    with torch.device("meta"):
        m = IRMLP(cin, cout, depthwise=depthwise)
    assert unique_parameter_count(m) == expected_irmlp_params(cin, cout, depthwise)


def test_stage4_dense_conv1_size():
    with torch.device("meta"):
        assert IRMLP(2304, 768).conv1.weight.numel() == 2304 * 2304 * 9 == 47_775_744


@pytest.mark.parametrize("depthwise", [False, True])
def test_matches_functional_recomputation(depthwise):
    torch.manual_seed(0)
    m = IRMLP(6, 3, depthwise=depthwise).eval()
    with torch.no_grad():
        for bn in (m.norm1, m.norm2):
            bn.running_mean.normal_(0.0, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.normal_(1.0, 0.2)
            bn.bias.normal_(0.0, 0.2)
    x = torch.randn(2, 6, 5, 7)
    y = F.conv2d(x, m.conv1.weight, padding=1, groups=6 if depthwise else 1)
    y = bn_eval(F.gelu(y) + x, m.norm1)
    y = F.conv2d(F.gelu(F.conv2d(y, m.conv2.weight)), m.conv3.weight)
    out = m(x)
    assert out.shape == (2, 3, 5, 7)
    torch.testing.assert_close(out, bn_eval(y, m.norm2))


@pytest.mark.parametrize("depthwise", [False, True])
def test_gradients_reach_every_parameter(depthwise):
    torch.manual_seed(1)
    m = IRMLP(6, 4, depthwise=depthwise)
    (m(torch.randn(2, 6, 4, 5)) * torch.randn(2, 4, 4, 5)).sum().backward()
    assert_all_parameters_have_grad(m)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="out_channels"):
        IRMLP(6, 0)
