# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.mvba import MVBAAttention, MVBABlock
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_attention_params(c: int, heads: int = 4) -> int:
    """Spec §1.8 Attn; MVSA head i uses (2i + 1) x (2i + 1) key/value kernels."""
    d = c // heads
    mvsa = heads * 3 * d * d + sum(2 * d * (2 * i + 1) ** 2 for i in range(heads))
    sa = c * c + 3 * 7 * 7
    cs_gc = (c * heads * 9 + c) + 2 * c + (c * c + c) + 2 * c  # grouped 3x3 (heads channels/group) + BN, 1x1 + BN
    gcsa = 3 * c * c
    dfs = 2 * (c * (c // 2) + c // 2) + (c * c + c) + (4 * c * c + 2 * c) + 20 * c + (2 * c * c + c) + 2 * c
    dfs += (10 * c) + (c * c + c) + 2 * c
    out = (9 * c * c + c) + 2 * c + (c * c + c)  # full 3x3 (bias), GRN, 1x1 (bias)
    return mvsa + sa + cs_gc + gcsa + dfs + out


def expected_cffn_params(c: int) -> int:
    h = 4 * c
    return (c * h + h) + (h + 1) + 10 * h + 11 * h + (h * c + c)


def expected_block_params(c: int, heads: int = 4) -> int:
    cpe = 10 * c + 2 * c  # depthwise 3x3 with bias, GRN
    return cpe + 2 * c + expected_attention_params(c, heads) + 2 * c + expected_cffn_params(c)


def test_cdfinet_counts():
    # spec §1.10: per MVBA-192 block Attn 0.937 M, CFFN 0.313 M; stage 3 (2 blocks) 2.506 M; stage 4 2.207 M
    assert expected_attention_params(192) == 937_107
    assert expected_cffn_params(192) == 312_769
    assert 2 * expected_block_params(192) == 2_505_896
    assert expected_block_params(256) == 2_207_124
    block = MVBABlock(192)
    assert unique_parameter_count(block.attn) == 937_107
    assert unique_parameter_count(block.ffn) == 312_769
    assert unique_parameter_count(block) == 1_252_948
    assert unique_parameter_count(MVBABlock(256)) == 2_207_124


@pytest.mark.parametrize("channels,heads", [(16, 4), (12, 2), (24, 3)])
def test_parameter_count_by_hand(channels, heads):
    assert unique_parameter_count(MVBABlock(channels, heads)) == expected_block_params(channels, heads)


def _randomize(module: torch.nn.Module) -> None:
    """Non-trivial BN statistics and GRN parameters, so that every stage of the block matters."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(("gamma", "beta")):
                p.normal_(0.0, 0.5)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)


def test_attention_composition():
    torch.manual_seed(0)
    attn = MVBAAttention(16).eval()
    _randomize(attn)
    x = torch.randn(2, 16, 6, 5)
    y_m, y_s = attn.mvsa(x), attn.spatial_attn(x)
    u = y_m * y_s
    # channel shuffle with 4 groups: output channel i * 4 + j is input channel j * 4 + i
    index = torch.tensor([j * 4 + i for i in range(4) for j in range(4)])
    y_m2 = attn.group_conv(u[:, index])
    y_s2 = attn.channel_attn(y_m + y_s)
    a, b, x_d = attn.dfs(y_m2, y_s2)
    expected = attn.out(a + b + x_d)
    torch.testing.assert_close(attn(x), expected)
    assert attn.group_conv[0].groups == 4 and attn.group_conv[0].weight.shape[1] == 4


def test_block_composition():
    torch.manual_seed(1)
    block = MVBABlock(16).eval()
    _randomize(block)
    x = torch.randn(2, 16, 4, 6)
    h = x + block.cpe(x)
    ln = F.layer_norm(h.permute(0, 2, 3, 1), (16,), block.norm1.weight, block.norm1.bias, eps=1e-5)
    h = h + block.attn(ln.permute(0, 3, 1, 2))
    h = h + block.ffn(block.norm2(h))
    y = block(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, h)
    assert block.attn.mvsa.key_convs[3].kernel_size == (7, 7)


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    block = MVBABlock(16)
    block(torch.randn(2, 16, 5, 4)).square().sum().backward()
    assert_all_parameters_have_grad(block)


def test_trace():
    torch.manual_seed(3)
    block = MVBABlock(8).eval()
    x = torch.randn(1, 8, 4, 4)
    traced = torch.jit.trace(block, x)
    x2 = torch.randn(1, 8, 4, 4)
    torch.testing.assert_close(traced(x2), block(x2))


@pytest.mark.parametrize("channels,heads", [(10, 4), (9, 3), (8, 0)])
def test_invalid_arguments(channels, heads):
    with pytest.raises(ValueError):
        MVBABlock(channels, heads)
