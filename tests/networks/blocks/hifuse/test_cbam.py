# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.hifuse.cbam import CBAMChannelAttention, CBAMSpatialAttention
from tests.networks.helpers import randomize_bn
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def test_spatial_attention_matches_manual_computation():
    torch.manual_seed(0)
    m = CBAMSpatialAttention(7).eval()
    randomize_bn(m)
    x = torch.randn(2, 6, 9, 11)
    maps = torch.stack([x.max(dim=1).values, x.mean(dim=1)], dim=1)  # max first, then mean
    z = F.conv2d(maps, m.conv.weight, padding=3)
    bn = m.norm
    z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(m(x), x * torch.sigmoid(z))


def test_channel_attention_matches_manual_computation():
    torch.manual_seed(1)
    m = CBAMChannelAttention(32, reduction=16)
    x = torch.randn(2, 32, 5, 7)
    w1, w2 = m.mlp[0].weight.flatten(1), m.mlp[2].weight.flatten(1)  # (2, 32), (32, 2)

    def mlp(v: torch.Tensor) -> torch.Tensor:
        return torch.relu(v @ w1.T) @ w2.T

    gate = torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))  # one sigmoid, shared MLP
    torch.testing.assert_close(m(x), x * gate[:, :, None, None])


def test_parameter_counts_by_hand():
    assert unique_parameter_count(CBAMSpatialAttention(7)) == 2 * 7 * 7 + 2  # conv (no bias) + BN(1)
    for c, r in [(96, 16), (768, 16), (8, 4)]:
        assert unique_parameter_count(CBAMChannelAttention(c, r)) == 2 * c * (c // r)  # shared, bias-free


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    sa, ca = CBAMSpatialAttention(), CBAMChannelAttention(16, 4)
    x = torch.randn(2, 16, 6, 8)
    (ca(sa(x)) * torch.randn(2, 16, 6, 8)).sum().backward()
    assert_all_parameters_have_grad(sa)
    assert_all_parameters_have_grad(ca)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="kernel_size"):
        CBAMSpatialAttention(6)
    with pytest.raises(ValueError, match="reduction"):
        CBAMChannelAttention(8, 16)
