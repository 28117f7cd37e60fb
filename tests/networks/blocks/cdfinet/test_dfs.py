# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.cdfinet.dfs import DFS
from tests.networks.helpers import bn_eval, randomize_bn
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_dfs_params(c: int) -> int:
    """Spec §1.6, every conv with a bias; BN has 2C parameters."""
    channel_path = 2 * (c * (c // 2) + c // 2) + (c * c + c)
    spatial_path = (2 * c * 2 * c + 2 * c) + (2 * c * 9 + 2 * c) + (2 * c * c + c) + 2 * c
    select = (c * 9 + c) + (c * c + c) + 2 * c
    return channel_path + spatial_path + select


def test_shapes_and_output_identities():
    torch.manual_seed(0)
    block = DFS(8)
    f1, f2 = torch.randn(2, 8, 8, 12), torch.randn(2, 8, 8, 12)
    a, b, x_d = block(f1, f2)
    assert a.shape == b.shape == x_d.shape == (2, 8, 8, 12)
    torch.testing.assert_close(a, f1 * x_d)
    torch.testing.assert_close(b, f2 * x_d)


@pytest.mark.parametrize("train", [True, False])
def test_selection_map_in_open_unit_interval(train):
    torch.manual_seed(1)
    block = DFS(16).train(train)
    randomize_bn(block)
    _, _, x_d = block(3.0 * torch.randn(2, 16, 6, 10), 3.0 * torch.randn(2, 16, 6, 10))
    assert x_d.min() > 0.0 and x_d.max() < 1.0
    assert x_d.std() > 0  # not a constant map


@pytest.mark.parametrize("channels", [8, 16, 64])
def test_parameter_count_by_hand(channels):
    assert unique_parameter_count(DFS(channels)) == expected_dfs_params(channels)


@pytest.mark.parametrize("channels, target_k, tol_k", [(64, 39.4, 0.05), (128, 153, 0.5)])
def test_parameter_count_matches_spec_table(channels, target_k, tol_k):
    # spec §1.10: DFS 39.4 K at stage 1 (d=64) and 153 K at stage 2 (d=128); tolerance = half the last digit shown
    assert abs(unique_parameter_count(DFS(channels)) / 1000 - target_k) <= tol_k


def test_gradient_reaches_every_parameter():
    torch.manual_seed(2)
    block = DFS(8)
    f1 = torch.randn(2, 8, 8, 12, requires_grad=True)
    f2 = torch.randn(2, 8, 8, 12, requires_grad=True)
    sum(t.sum() for t in block(f1, f2)).backward()
    assert_all_parameters_have_grad(block)
    assert f1.grad is not None and f2.grad is not None


def test_matches_manual_recomputation():
    torch.manual_seed(3)
    c = 8
    block = DFS(c).eval()
    randomize_bn(block)
    f1, f2 = torch.randn(2, c, 6, 10), torch.randn(2, c, 6, 10)

    def conv(x: torch.Tensor, m: nn.Conv2d, groups: int = 1, padding: int = 0) -> torch.Tensor:
        return F.conv2d(x, m.weight, m.bias, padding=padding, groups=groups)

    g1 = F.gelu(conv(f1.mean(dim=(2, 3), keepdim=True), block.channel_f1[1]))
    g2 = F.gelu(conv(f2.mean(dim=(2, 3), keepdim=True), block.channel_f2[1]))
    f_c = torch.sigmoid(conv(torch.cat([g1, g2], 1), block.channel_fuse[0]))
    assert f_c.shape == (2, c, 1, 1)

    s = F.gelu(conv(torch.cat([f1, f2], 1), block.spatial[0]))
    s = F.gelu(conv(s, block.spatial[2], groups=2 * c, padding=1))
    f_s = F.gelu(bn_eval(conv(s, block.spatial[4]), block.spatial[5]))

    t = F.gelu(conv(f_c * f_s, block.select[0], groups=c, padding=1))
    x_d = torch.sigmoid(bn_eval(conv(t, block.select[2]), block.select[3]))

    a, b, out_d = block(f1, f2)
    torch.testing.assert_close(out_d, x_d)
    torch.testing.assert_close(a, f1 * x_d)
    torch.testing.assert_close(b, f2 * x_d)


@pytest.mark.parametrize("channels", [0, 7])
def test_rejects_bad_channels(channels):
    with pytest.raises(ValueError, match="channels"):
        DFS(channels)
