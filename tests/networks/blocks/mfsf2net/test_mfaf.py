# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.mfsf2net.mfaf import MFAF
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def _expected_params(res: int, pvt: int, f: int = 256, r: int = 16) -> int:
    align = (res * f + f) + 2 * f + (pvt * f * 9 + f) + 2 * f  # conv1x1 + BN, conv3x3 + BN (convs with bias)
    mffe = 2 * (2 * f * (f // r))  # two MFFE, each a bias-free f -> f/r -> f MLP
    gate = (2 * f * f + f) + 2 * f + (f + 1)  # conv1x1 2f -> f + BN, conv1x1 f -> 1
    reassemble = (2 * f * f + f) + 2 * f
    return align + mffe + gate + reassemble


@pytest.mark.parametrize(
    "res, pvt, spec_millions",
    [(256, 64, 0.49), (512, 128, 0.71), (1024, 320, 1.28), (2048, 512, 1.99)],
)
def test_mfaf_parameter_count_matches_spec(res, pvt, spec_millions):
    m = MFAF(res, pvt)
    n = unique_parameter_count(m)
    assert n == _expected_params(res, pvt)
    assert round(n / 1e6, 2) == spec_millions


def _reference(m: MFAF, res: torch.Tensor, pvt: torch.Tensor) -> torch.Tensor:
    if res.shape[-2:] != pvt.shape[-2:]:
        res = F.interpolate(res, size=pvt.shape[-2:], mode="bilinear", align_corners=True)
    r = m.mffe_res(m.align_res(res))
    p = m.mffe_pvt(m.align_pvt(pvt))
    hidden = m.gate[0](torch.cat([r, p], 1))
    s = torch.sigmoid(F.conv2d(hidden, m.gate[1].weight, m.gate[1].bias))
    return m.reassemble(torch.cat([r * s, p - p * s], 1))


@pytest.mark.parametrize("res_size", [(8, 12), (16, 24), (5, 7)])
def test_mfaf_forward_and_alignment(res_size):
    torch.manual_seed(0)
    m = MFAF(24, 12, fuse_channels=32).eval()
    res = torch.randn(2, 24, *res_size)
    pvt = torch.randn(2, 12, 8, 12)
    out = m(res, pvt)
    assert out.shape == (2, 32, 8, 12)
    torch.testing.assert_close(out, _reference(m, res, pvt))


def test_mfaf_gate_is_complementary():
    torch.manual_seed(0)
    m = MFAF(8, 8, fuse_channels=16).eval()
    captured = {}
    m.gate.register_forward_hook(lambda mod, inp, out: captured.setdefault("s", out))
    m(torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6))
    s = captured["s"]
    assert s.shape == (1, 1, 6, 6) and bool(((s > 0) & (s < 1)).all())


def test_mfaf_gradients():
    torch.manual_seed(0)
    m = MFAF(16, 8, fuse_channels=32)
    m(torch.randn(2, 16, 8, 8), torch.randn(2, 8, 4, 4)).square().mean().backward()
    assert_all_parameters_have_grad(m)


def test_mfaf_invalid_args():
    with pytest.raises(ValueError, match="pvt_channels"):
        MFAF(16, 0)
    with pytest.raises(ValueError, match="fuse_channels"):
        MFAF(16, 8, fuse_channels=0)


def test_mfaf_torchscript():
    torch.manual_seed(0)
    m = MFAF(8, 4, fuse_channels=16).eval()
    res, pvt = torch.randn(1, 8, 12, 12), torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(torch.jit.script(m)(res, pvt), m(res, pvt))
