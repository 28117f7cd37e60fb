# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.mfsf2net.pmsf import PMSF, PSA
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def test_psa_and_pmsf_parameter_counts():
    # PSA 1024 -> 4 x 128: k*k*(in/g)*128 per branch (no bias) + the shared 128 x 128 Conv1d mixing
    psa = sum(k * k * (1024 // g) * 128 for k, g in [(3, 1), (5, 4), (7, 8), (9, 16)]) + 128 * 128
    assert unique_parameter_count(PSA()) == psa == 3_481_600
    pmsf = 4 * (256 * 256 + 2 * 256) + psa  # per stage: bias-free 1x1 conv + BN
    n = unique_parameter_count(PMSF())
    assert n == pmsf == 3_745_792
    assert round(n / 1e6, 2) == 3.75


def _psa_reference(m: PSA, x: torch.Tensor, kernels: list[int], groups: list[int]) -> torch.Tensor:
    feats = [F.conv2d(x, c.weight, padding=k // 2, groups=g) for c, k, g in zip(m.convs, kernels, groups)]
    w = m.weight.mix.weight[:, :, 0]
    logits = [1 + 2 * torch.sigmoid(f.mean(dim=(2, 3)) @ w.T) for f in feats]  # (B, C) each
    soft = torch.softmax(torch.stack(logits, 0), dim=0)
    weighted = [f * soft[i][:, :, None, None] for i, f in enumerate(feats)]
    return torch.cat(weighted[::-1], dim=1)


def test_psa_matches_hand_computation():
    torch.manual_seed(0)
    kernels, groups = [3, 5, 7], [1, 2, 4]
    m = PSA(16, 24, kernels, groups)
    x = torch.randn(2, 16, 9, 10)
    out = m(x)
    assert out.shape == (2, 24, 9, 10)
    torch.testing.assert_close(out, _psa_reference(m, x, kernels, groups))


def test_pmsf_shapes_and_gradients():
    torch.manual_seed(0)
    m = PMSF(in_channels=16, stage_channels=8, pool_size=4, out_channels=16, groups=(1, 2, 4, 4))
    feats = [torch.randn(2, 16, s, s) for s in (16, 8, 4, 2)]
    out = m(feats)
    assert out.shape == (2, 16)
    out.square().sum().backward()
    assert_all_parameters_have_grad(m)
    with pytest.raises(ValueError, match="4 feature maps"):
        m(feats[:3])


def test_pmsf_pools_to_common_grid():
    torch.manual_seed(0)
    m = PMSF(in_channels=4, stage_channels=4, pool_size=4, out_channels=4, groups=(1, 1, 1, 1)).eval()
    feats = [torch.randn(1, 4, s, s) for s in (16, 8, 4, 2)]
    pooled = [F.adaptive_avg_pool2d(stage[:3](f), 4) for stage, f in zip(m.stages, feats)]
    torch.testing.assert_close(m(feats), m.psa(torch.cat(pooled, 1)).mean(dim=(2, 3)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"out_channels": 510}, "out_channels"),
        ({"kernel_sizes": (3, 4, 5, 7)}, "odd"),
        ({"groups": (1, 4, 8)}, "equal length"),
        ({"in_channels": 1000}, "group"),
    ],
)
def test_psa_invalid_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PSA(**kwargs)


def test_pmsf_torchscript():
    torch.manual_seed(0)
    m = PMSF(in_channels=8, stage_channels=4, pool_size=4, out_channels=8, groups=(1, 1, 2, 2)).eval()
    feats = [torch.randn(1, 8, s, s) for s in (8, 4, 2, 1)]
    torch.testing.assert_close(torch.jit.script(m)(feats), m(feats))
