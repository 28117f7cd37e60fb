# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.cdfinet.mvsa import MVSA
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_mvsa_params(c: int, heads: int, kernel_sizes: tuple[int, ...]) -> int:
    """Spec §1.8 step 1: per head a 1x1 conv d -> 3d (no bias) and two depthwise k x k convs (keys, values)."""
    d = c // heads
    return heads * 3 * d * d + sum(2 * d * k * k for k in kernel_sizes)


def reference_mvsa(block: MVSA, x: torch.Tensor) -> torch.Tensor:
    """Independent re-computation: explicit per-head loop with functional convs and SDPA."""
    b, c, h, w = x.shape
    d = c // block.num_heads
    outs = []
    for i in range(block.num_heads):
        g = x[:, i * d : (i + 1) * d]
        t = g if i == 0 else outs[-1] + g
        qkv = torch.einsum("oc,bchw->bohw", block.qkv[i].weight[:, :, 0, 0], t)
        q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
        kk = block.key_convs[i].kernel_size[0]
        k = F.conv2d(k, block.key_convs[i].weight, padding=kk // 2, groups=d)
        v = F.conv2d(v, block.value_convs[i].weight, padding=kk // 2, groups=d)
        q, k, v = (z.reshape(b, d, h * w).transpose(1, 2) for z in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v)  # default scale d^-0.5
        outs.append(o.transpose(1, 2).reshape(b, d, h, w))
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("channels,heads,kernels", [(16, 4, (1, 3, 5, 7)), (12, 2, (3, 5)), (192, 4, (1, 3, 5, 7))])
def test_parameter_count_by_hand(channels, heads, kernels):
    assert unique_parameter_count(MVSA(channels, heads, kernels)) == expected_mvsa_params(channels, heads, kernels)


def test_cdfinet_stage3_count():
    # C = 192: 3 * 192**2 / 4 + 2 * 48 * (1 + 9 + 25 + 49)
    assert unique_parameter_count(MVSA(192)) == 27648 + 8064


@pytest.mark.parametrize("shape", [(2, 16, 6, 6), (1, 16, 4, 7)])
def test_matches_independent_recomputation(shape):
    torch.manual_seed(0)
    block = MVSA(16)
    x = torch.randn(shape)
    y = block(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, reference_mvsa(block, x), rtol=1e-5, atol=1e-5)


def test_cascade_order():
    """Perturbing the last channel group changes only the last head; the first group reaches every head."""
    torch.manual_seed(1)
    block = MVSA(16)
    x = torch.randn(1, 16, 5, 5)
    y = block(x)
    x_last = x.clone()
    x_last[:, 12:] += 1.0
    diff = (block(x_last) - y).abs().flatten(2).amax(-1)[0]
    assert torch.all(diff[:12] == 0) and torch.all(diff[12:] > 0)
    x_first = x.clone()
    x_first[:, :4] += 1.0
    assert torch.all((block(x_first) - y).abs().reshape(4, -1).amax(-1) > 0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    block = MVSA(16)
    block(torch.randn(2, 16, 5, 6)).square().sum().backward()
    assert_all_parameters_have_grad(block)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channels": 10, "num_heads": 4},
        {"channels": 16, "kernel_sizes": (1, 3)},
        {"channels": 8, "num_heads": 2, "kernel_sizes": (1, 2)},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        MVSA(**kwargs)
