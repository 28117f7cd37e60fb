# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.hifuse.hff import HFFBlock
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_hff_params(c: int, r: int, first_stage: bool, depthwise: bool) -> int:
    """Spec §1.4 with every dead module of the released code left out."""

    def conv_bn(cin: int, cout: int) -> int:  # 1x1 conv with bias + BN
        return cin * cout + cout + 2 * cout

    count = 2 * conv_bn(c, c)  # W_local, W_global
    if first_stage:
        count += 2 * 2 * c + conv_bn(2 * c, c)  # LN(2C), ConvBN 2C -> C
    else:
        count += conv_bn(c // 2, c) + 2 * 3 * c + conv_bn(3 * c, c)  # W_f, LN(3C), ConvBN 3C -> C
    count += 2 * 49 + 2  # spatial attention: conv7x7 2->1 (no bias) + BN(1)
    count += 2 * c * (c // r)  # channel attention: shared bottleneck without biases
    count += 2 * 3 * c  # LN(3C) before the IRMLP
    cin = 3 * c
    count += (cin * 9 if depthwise else cin * cin * 9) + 2 * cin + 4 * cin * cin + 4 * cin * c + 2 * c  # IRMLP
    return count


@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("first_stage", [True, False])
@pytest.mark.parametrize("c, r", [(8, 4), (96, 16), (768, 16)])
def test_parameter_count_by_hand(c, r, first_stage, depthwise):
    with torch.device("meta"):
        block = HFFBlock(c, r, first_stage=first_stage, irmlp_depthwise=depthwise)
    assert unique_parameter_count(block) == expected_hff_params(c, r, first_stage, depthwise)


def test_stage1_builds_no_previous_scale_path():
    first, later = HFFBlock(8, 4, first_stage=True), HFFBlock(8, 4)
    assert not hasattr(first, "w_prev") and hasattr(later, "w_prev")
    assert first.norm_prev.normalized_shape == (16,) and later.norm_prev.normalized_shape == (24,)


@pytest.mark.parametrize("first_stage", [True, False])
def test_shapes_and_every_parameter_gets_a_gradient(first_stage):
    torch.manual_seed(0)
    block = HFFBlock(8, 4, first_stage=first_stage)
    l, g = torch.randn(2, 8, 6, 10), torch.randn(2, 8, 6, 10)  # noqa: E741
    f = None if first_stage else torch.randn(2, 4, 12, 20)
    out = block(l, g, f)
    assert out.shape == (2, 8, 6, 10)
    (out * torch.randn_like(out)).sum().backward()
    assert_all_parameters_have_grad(block)


def _ln2d(x: torch.Tensor, ln: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x.permute(0, 2, 3, 1), ln.normalized_shape, ln.weight, ln.bias, 1e-6).permute(0, 3, 1, 2)


@pytest.mark.parametrize("first_stage", [True, False])
def test_matches_recomputation_from_the_spec(first_stage):
    """Re-wire the sub-blocks by hand in the spec's order: X_f = [W_f, W_l, W_g], fuse = [g_att, l_att, X_f]."""
    torch.manual_seed(1)
    block = HFFBlock(8, 4, first_stage=first_stage).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    l, g = torch.randn(2, 8, 4, 6), torch.randn(2, 8, 4, 6)  # noqa: E741
    f = None if first_stage else torch.randn(2, 4, 8, 12)
    parts = [block.w_local(l), block.w_global(g)]
    shortcut = torch.zeros(())
    if not first_stage:
        shortcut = F.avg_pool2d(block.w_prev(f), 2)
        parts = [shortcut, *parts]
    x_f = F.gelu(block.proj_prev(_ln2d(torch.cat(parts, 1), block.norm_prev)))
    fused = torch.cat([block.channel_attention(g), block.spatial_attention(l), x_f], 1)
    ref = shortcut + block.irmlp(_ln2d(fused, block.norm_fuse))
    torch.testing.assert_close(block(l, g, f), ref)


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match="even"):
        HFFBlock(9, 3)
    with pytest.raises(ValueError, match="reduction"):
        HFFBlock(8, 16)
    with pytest.raises(ValueError, match="drop_path"):
        HFFBlock(8, 4, drop_path=1.0)
    x = torch.randn(1, 8, 4, 4)
    with pytest.raises(ValueError, match="needs the previous"):
        HFFBlock(8, 4)(x, x)
    with pytest.raises(ValueError, match="f=None"):
        HFFBlock(8, 4, first_stage=True)(x, x, torch.randn(1, 4, 8, 8))
