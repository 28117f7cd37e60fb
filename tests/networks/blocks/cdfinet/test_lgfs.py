# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.cdfinet.lgfs import LGFSBlock
from tests.networks.helpers import bn_eval
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_lgfs_rest_params(c: int) -> int:
    """Spec §1.3 outside the four sub-blocks: LayerNorm(C); DW3x3 (+bias); GRN; P = 1x1 (+bias) + BN."""
    return 2 * c + (c * 9 + c) + 2 * c + (c * c + c + 2 * c)


def _randomize(module: nn.Module) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)
            elif isinstance(m, nn.LayerNorm):
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)


def _manual_lgfs(block: LGFSBlock, x: torch.Tensor, with_grn: bool) -> torch.Tensor:
    """Spec §1.3 step by step in eval mode, with LFDS/GFDS/DFS/MFFN as black boxes (tested in their own files)."""
    c = x.shape[1]
    x_l = block.lfds(x)
    x_n = F.layer_norm(x.permute(0, 2, 3, 1), (c,), block.norm.weight, block.norm.bias, 1e-5)
    x_g = block.gfds(x_n).permute(0, 3, 1, 2)
    a, b, x_d = block.dfs(x_l, x_g)
    t = F.gelu(F.conv2d(a + b + x_d, block.dw[0].weight, block.dw[0].bias, padding=1, groups=c))
    if with_grn:
        grn = block.dw[2]
        gx = t.square().sum(dim=(2, 3), keepdim=True).sqrt()
        t = grn.gamma * (t * (gx / (gx.mean(dim=1, keepdim=True) + 1e-6))) + grn.beta + t
    y = x + F.gelu(bn_eval(F.conv2d(t, block.proj[0].weight, block.proj[0].bias), block.proj[1]))
    return y + block.mffn(y)


@pytest.mark.parametrize("shape", [(2, 8, 4, 4), (1, 8, 4, 6)])
def test_shape(shape):
    torch.manual_seed(0)
    assert LGFSBlock(shape[1])(torch.randn(shape)).shape == shape


@pytest.mark.parametrize("channels", [8, 16])
def test_parameter_count_is_sum_of_parts(channels):
    block = LGFSBlock(channels)
    parts = sum(unique_parameter_count(m) for m in (block.lfds, block.gfds, block.dfs, block.mffn))
    assert unique_parameter_count(block) == parts + expected_lgfs_rest_params(channels)


@pytest.mark.parametrize("channels, target_k", [(64, 225), (128, 745)])
def test_parameter_count_matches_spec_table(channels, target_k):
    # spec §1.10: stage 1 (1 x LGFS-64) 225 K with "rest 5 K"; stage 2 (1 x LGFS-128) 745 K
    block = LGFSBlock(channels)
    assert abs(unique_parameter_count(block) / 1000 - target_k) <= 0.5
    if channels == 64:
        assert round(expected_lgfs_rest_params(channels) / 1000) == 5


def test_layer_norm_eps():
    block = LGFSBlock(8)
    assert block.norm.eps == 1e-5 and block.norm.normalized_shape == (8,)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(1)
    block = LGFSBlock(8)
    x = torch.randn(2, 8, 4, 6, requires_grad=True)
    block(x).square().sum().backward()
    assert_all_parameters_have_grad(block)
    assert x.grad is not None


def test_grn_identity_at_init_and_manual_recomputation():
    torch.manual_seed(2)
    block = LGFSBlock(8).eval()
    _randomize(block)
    x = torch.randn(2, 8, 4, 6)
    out_init = block(x)
    # GRN gamma/beta start at zero: the block equals the pipeline without the GRN step
    torch.testing.assert_close(out_init, _manual_lgfs(block, x, with_grn=False), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        block.dw[2].gamma.normal_()
        block.dw[2].beta.normal_()
    out = block(x)
    torch.testing.assert_close(out, _manual_lgfs(block, x, with_grn=True), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out, out_init)


def test_jit_trace():
    torch.manual_seed(3)
    block = LGFSBlock(8).eval()
    x = torch.randn(1, 8, 4, 6)
    traced = torch.jit.trace(block, x, check_trace=False)
    torch.testing.assert_close(traced(x), block(x))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        LGFSBlock(7)
    with pytest.raises(ValueError, match="kernel_size"):
        LGFSBlock(8, kernel_size=2)
