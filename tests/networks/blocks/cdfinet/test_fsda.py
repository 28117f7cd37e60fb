# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.cdfinet.fsda import FSDA
from monai_fusion.networks.ops.haar_dwt import haar_dwt2d, haar_idwt2d
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_fsda_params(low: int, c: int, reduction: int = 4) -> int:
    """Spec §1.9: reduce 1x1 (bias) + BN, 3x3 (bias) + BN, 3x3 s2 (no bias) + BN, CAM MLP (bias), Q, KV, 3 x CBG."""
    r = low // reduction
    hidden = max(1, c // 16)
    reduce = low * r + r + 2 * r
    freq = 9 * 4 * r * c + c + 2 * c
    local = 9 * (c // 4) * c + 2 * c
    cam = (c * hidden + hidden) + (hidden * c + c)
    qkv = c * c + 2 * c * c
    fcs = 3 * (c * c + 2 * c)
    return reduce + freq + local + cam + qkv + fcs


def reference_fsda(block: FSDA, s3: torch.Tensor, s4: torch.Tensor, quirk: bool) -> torch.Tensor:
    """Re-computation with explicit per-head attention; conv-BN-GELU units reuse the block's submodules."""
    b, c, h, w = s4.shape
    n = h * w
    freq = block.freq_conv(haar_dwt2d(block.reduce(s3)))
    local = block.local_conv(haar_idwt2d(freq))
    hidden = F.relu(F.conv2d(local.mean((2, 3), True) + local.amax((2, 3), True), *_wb(block.local_gate.mlp[0])))
    local = local * torch.sigmoid(F.conv2d(hidden, *_wb(block.local_gate.mlp[2])))
    qmap = F.conv2d(freq, block.query.weight)
    q = qmap.reshape(b, n, c) if quirk else qmap.reshape(b, c, n).permute(0, 2, 1)
    kv = F.conv2d(s4, block.key_value.weight).reshape(b, 2 * c, n).permute(0, 2, 1)
    k, v = kv[..., :c], kv[..., c:]
    heads, d = block.num_heads, c // block.num_heads
    out = torch.empty(b, n, c)
    for i in range(heads):
        sl = slice(i * d, (i + 1) * d)
        attn = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(d), dim=-1)
        out[..., sl] = attn @ v[..., sl]
    out = out.permute(0, 2, 1).reshape(b, c, h, w)
    x = block.fc1(out + local)
    x = block.fc2(local) * x
    return block.proj(x) + s4


def _wb(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    return conv.weight, conv.bias


def test_cdfinet_count():
    assert expected_fsda_params(192, 256) == 1_003_680  # spec §1.10: FSDA 1.004 M
    assert unique_parameter_count(FSDA(192, 256)) == 1_003_680


@pytest.mark.parametrize("low,c,reduction", [(48, 64, 4), (24, 32, 4), (16, 8, 2)])
def test_parameter_count_by_hand(low, c, reduction):
    assert unique_parameter_count(FSDA(low, c, num_heads=4, reduction=reduction)) == expected_fsda_params(
        low, c, reduction
    )


@pytest.mark.parametrize("quirk", [False, True])
@pytest.mark.parametrize("size", [(4, 4), (3, 5)])
def test_matches_independent_recomputation(quirk, size):
    torch.manual_seed(0)
    block = FSDA(16, 32, num_heads=4, reshape_quirk=quirk).eval()
    h, w = size
    s3, s4 = torch.randn(2, 16, 2 * h, 2 * w), torch.randn(2, 32, h, w)
    y = block(s3, s4)
    assert y.shape == s4.shape
    torch.testing.assert_close(y, reference_fsda(block, s3, s4, quirk), rtol=1e-4, atol=1e-5)


def test_query_tokens():
    torch.manual_seed(1)
    proper = FSDA(16, 32, num_heads=4, reshape_quirk=False)
    quirky = FSDA(16, 32, num_heads=4, reshape_quirk=True)
    quirky.load_state_dict(proper.state_dict())
    freq = torch.randn(2, 32, 3, 5)
    qmap = proper.query(freq)
    manual = torch.stack([qmap[:, :, i, j] for i in range(3) for j in range(5)], dim=1)  # token n = position n
    torch.testing.assert_close(proper.query_tokens(freq), manual)
    torch.testing.assert_close(quirky.query_tokens(freq), qmap.reshape(2, 15, 32))
    assert not torch.allclose(quirky.query_tokens(freq), manual)
    s3, s4 = torch.randn(2, 16, 6, 10), torch.randn(2, 32, 3, 5)
    assert not torch.allclose(proper.eval()(s3, s4), quirky.eval()(s3, s4))


def test_init():
    torch.manual_seed(2)
    block = FSDA(192, 256)
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            if m.weight.numel() >= 10_000:
                assert m.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.05)
            if m.bias is not None:
                assert torch.all(m.bias == 0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(3)
    block = FSDA(16, 32, num_heads=4)
    block(torch.randn(2, 16, 6, 4), torch.randn(2, 32, 3, 2)).square().sum().backward()
    assert_all_parameters_have_grad(block)


def test_trace():
    torch.manual_seed(4)
    block = FSDA(8, 16, num_heads=2).eval()
    inputs = (torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2))
    traced = torch.jit.trace(block, inputs)
    inputs2 = (torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2))
    torch.testing.assert_close(traced(*inputs2), block(*inputs2))


def test_mismatched_inputs():
    block = FSDA(8, 16, num_heads=2)
    with pytest.raises(ValueError, match="twice"):
        block(torch.randn(1, 8, 6, 6), torch.randn(1, 16, 2, 2))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low_channels": 10, "channels": 16},  # not divisible by reduction 4
        {"low_channels": 8, "channels": 18, "num_heads": 2},  # not divisible by 4
        {"low_channels": 8, "channels": 16, "num_heads": 3},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        FSDA(**kwargs)
