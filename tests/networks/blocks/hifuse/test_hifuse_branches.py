# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.hifuse.hifuse_branches import HiFuseGlobalBlock, HiFuseLocalBlock
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def test_local_block_matches_functional_recomputation():
    torch.manual_seed(0)
    c = 6
    blk = HiFuseLocalBlock(c)
    with torch.no_grad():
        blk.norm.weight.normal_(1.0, 0.2)
        blk.norm.bias.normal_(0.0, 0.2)
    x = torch.randn(2, c, 5, 7)
    y = F.conv2d(x, blk.dwconv.weight, blk.dwconv.bias, padding=1, groups=c).permute(0, 2, 3, 1)
    y = F.gelu(
        F.linear(F.layer_norm(y, (c,), blk.norm.weight, blk.norm.bias, 1e-6), blk.pwconv.weight, blk.pwconv.bias)
    )
    torch.testing.assert_close(blk(x), x + y.permute(0, 3, 1, 2))
    # depthwise 3x3 with bias, LN(C), one Linear(C -> C); no layer scale, no 4x MLP
    assert unique_parameter_count(blk) == (9 * c + c) + 2 * c + (c * c + c)


@pytest.mark.parametrize("shift", [0, 2])
def test_global_block_is_one_residual_around_attention_linear_gelu(shift):
    torch.manual_seed(1)
    c = 8
    blk = HiFuseGlobalBlock(c, num_heads=2, window_size=4, shift_size=shift)
    x = torch.randn(2, 6, 9, c)
    ref = x + F.gelu(blk.proj(blk.attn(F.layer_norm(x, (c,), blk.norm.weight, blk.norm.bias, 1e-5))))
    torch.testing.assert_close(blk(x), ref)
    attention = (c * 3 * c + 3 * c) + (c * c + c) + 7 * 7 * 2
    assert unique_parameter_count(blk) == 2 * c + attention + (c * c + c)  # no norm2, no MLP


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    local, glob = HiFuseLocalBlock(8), HiFuseGlobalBlock(8, 2, window_size=3, shift_size=1)
    x = torch.randn(2, 8, 5, 6)
    out = glob(local(x).permute(0, 2, 3, 1))
    (out * torch.randn_like(out)).sum().backward()
    assert_all_parameters_have_grad(local)
    assert_all_parameters_have_grad(glob)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="drop_path"):
        HiFuseLocalBlock(8, drop_path=1.5)
    with pytest.raises(ValueError, match="num_heads"):
        HiFuseGlobalBlock(8, 3)
