# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch

from monai_fusion.networks.blocks.cdfinet.gcsa import GCSA
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


@pytest.mark.parametrize("channels", [8, 192])
def test_parameter_count_by_hand(channels):
    # spec §1.8 step 4: one 1x1 conv C -> 3C without bias
    assert unique_parameter_count(GCSA(channels)) == 3 * channels * channels


@pytest.mark.parametrize("shape", [(2, 8, 5, 5), (1, 6, 3, 8)])
def test_matches_independent_recomputation(shape):
    torch.manual_seed(0)
    b, c, h, w = shape
    block = GCSA(c)
    x = torch.randn(shape)
    y = block(x)
    assert y.shape == x.shape
    weight = block.qkv.weight[:, :, 0, 0]
    tokens = x.reshape(b, c, h * w)
    q, k, v = (torch.einsum("oc,bcn->bon", weight[i * c : (i + 1) * c], tokens) for i in range(3))
    expected = torch.empty(b, c, h * w)
    for n in range(b):
        for i in range(c):
            logits = torch.stack([(q[n, i] * k[n, j]).sum() for j in range(c)]) / (h * w) ** 0.5
            expected[n, i] = (logits.softmax(0)[:, None] * v[n]).sum(0)
    torch.testing.assert_close(y, expected.reshape(shape), rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    block = GCSA(8)
    block(torch.randn(2, 8, 4, 4)).square().sum().backward()
    assert_all_parameters_have_grad(block)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        GCSA(0)
