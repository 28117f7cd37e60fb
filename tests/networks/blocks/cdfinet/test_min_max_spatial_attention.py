# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.min_max_spatial_attention import MinMaxSpatialAttention
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


@pytest.mark.parametrize("channels", [8, 192, 256])
def test_parameter_count_by_hand(channels):
    # spec §1.8 step 2: 1x1 conv C -> C (no bias) + 7x7 conv 3 -> 1 (no bias)
    assert unique_parameter_count(MinMaxSpatialAttention(channels)) == channels * channels + 3 * 49


def test_matches_independent_recomputation():
    torch.manual_seed(0)
    block = MinMaxSpatialAttention(8)
    x = torch.randn(2, 8, 9, 7)
    y = block(x)
    assert y.shape == x.shape
    s = torch.einsum("oc,bchw->bohw", block.proj.weight[:, :, 0, 0], x)
    stats = torch.stack([s.mean(1), s.max(1).values, s.min(1).values], dim=1)
    gate = torch.sigmoid(F.conv2d(stats, block.map_conv.weight, padding=3))
    torch.testing.assert_close(y, s * gate)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    block = MinMaxSpatialAttention(8)
    block(torch.randn(2, 8, 6, 6)).square().sum().backward()
    assert_all_parameters_have_grad(block)


@pytest.mark.parametrize("kwargs", [{"channels": 0}, {"channels": 4, "kernel_size": 4}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        MinMaxSpatialAttention(**kwargs)
