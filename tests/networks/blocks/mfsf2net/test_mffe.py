# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.mfsf2net.mffe import MFFE
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count

TOP16 = [
    (0, 0), (0, 1), (6, 0), (0, 5), (0, 2), (1, 0), (1, 2), (4, 0),
    (5, 0), (1, 6), (3, 0), (0, 4), (0, 6), (0, 3), (3, 5), (2, 2),
]  # fmt: skip


def _basis(u: int, v: int, n: int) -> torch.Tensor:
    out = torch.empty(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            cu = math.sqrt((1 if u == 0 else 2) / n)
            cv = math.sqrt((1 if v == 0 else 2) / n)
            out[i, j] = cu * cv * math.cos(math.pi * u * (i + 0.5) / n) * math.cos(math.pi * v * (j + 0.5) / n)
    return out


def _reference(m: MFFE, x: torch.Tensor, n: int, freqs: list[tuple[int, int]]) -> torch.Tensor:
    pooled = F.adaptive_avg_pool2d(x.double(), n)
    stats = {"avg": 0.0, "max": 0.0, "min": 0.0}
    for u, v in freqs:
        prod = (pooled * _basis(u, v, n)).flatten(2)
        stats["avg"] = stats["avg"] + prod.mean(-1) / len(freqs)
        stats["max"] = stats["max"] + prod.max(-1).values / len(freqs)
        stats["min"] = stats["min"] + prod.min(-1).values / len(freqs)
    w1 = m.mlp[0].weight.double().flatten(1)
    w2 = m.mlp[2].weight.double().flatten(1)
    attn = sum(torch.relu(s @ w1.T) @ w2.T for s in stats.values())
    return (x.double() * torch.sigmoid(attn)[:, :, None, None]).float()


def test_mffe_matches_hand_computation():
    torch.manual_seed(0)
    m = MFFE(32).eval()
    x = torch.randn(2, 32, 9, 11)
    torch.testing.assert_close(m(x), _reference(m, x, 7, TOP16), rtol=1e-5, atol=1e-6)


def test_mffe_scaled_grid_and_fewer_frequencies():
    torch.manual_seed(1)
    m = MFFE(16, dct_size=14, num_frequencies=4, reduction=4).eval()
    x = torch.randn(1, 16, 28, 28)
    torch.testing.assert_close(m(x), _reference(m, x, 14, [(2 * u, 2 * v) for u, v in TOP16[:4]]), rtol=1e-5, atol=1e-6)


def test_mffe_buffer_params_and_grad():
    m = MFFE(256)
    assert m.dct_weight.shape == (16, 7, 7)
    assert "dct_weight" not in m.state_dict()  # non-persistent
    assert unique_parameter_count(m) == 2 * 256 * 16  # two bias-free 1x1 convs, 256 <-> 16
    torch.manual_seed(0)
    x = torch.randn(2, 256, 5, 5, requires_grad=True)
    m(x).square().sum().backward()
    assert_all_parameters_have_grad(m)
    assert x.grad is not None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channels": 8, "reduction": 16}, "reduction"),
        ({"channels": 16, "num_frequencies": 17}, "num_frequencies"),
        ({"channels": 16, "dct_size": 5}, "dct_size"),
        ({"channels": 0}, "channels"),
    ],
)
def test_mffe_invalid_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MFFE(**kwargs)


def test_mffe_torchscript():
    torch.manual_seed(0)
    m = MFFE(16, reduction=4).eval()
    x = torch.randn(1, 16, 8, 8)
    torch.testing.assert_close(torch.jit.script(m)(x), m(x))
