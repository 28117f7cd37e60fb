# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.cdfinet.gfds import GFDS
from tests.networks.helpers import bn_eval
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count


def expected_gfds_params(c: int, k: int = 9, n: int = 16) -> int:
    """Spec §1.4 with d = c, d_inner = 2d, R = ceil(d / 16), K = 4 directions."""
    d_inner, r = 2 * c, math.ceil(c / 16)
    in_proj = c * 2 * c
    spatial = c * 9 + c + 2 * c
    subbands = 2 * (2 * (c * 9 + c) + 2 * (c * k + c))
    core = 4 * (r + 2 * n) * d_inner + 4 * d_inner * r + 4 * d_inner + 4 * d_inner * n + 4 * d_inner
    out_norm = 2 * d_inner
    conv_out = 4 * c * 9 + 4 * c
    gate = 4 * c + 1
    out_proj = 2 * c * c
    return in_proj + spatial + subbands + 2 * core + out_norm + conv_out + gate + out_proj


def _manual_dwt(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    a, b, c, d = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2


def _manual_idwt(y: torch.Tensor) -> torch.Tensor:
    ll, lh, hl, hh = torch.chunk(y, 4, dim=1)
    b, c, h, w = ll.shape
    out = y.new_zeros(b, c, 2 * h, 2 * w)
    out[..., 0::2, 0::2] = (ll + lh + hl + hh) / 2
    out[..., 0::2, 1::2] = (ll + lh - hl - hh) / 2
    out[..., 1::2, 0::2] = (ll - lh + hl - hh) / 2
    out[..., 1::2, 1::2] = (ll - lh - hl + hh) / 2
    return out


def test_shape_non_square():
    torch.manual_seed(0)
    block = GFDS(8)
    assert block(torch.randn(2, 8, 12, 8)).shape == (2, 8, 12, 8)
    assert block(torch.randn(1, 6, 4, 8)).shape == (1, 6, 4, 8)


@pytest.mark.parametrize("channels, kernel_size, d_state", [(8, 9, 16), (16, 5, 8), (64, 9, 16)])
def test_parameter_count_by_hand(channels, kernel_size, d_state):
    block = GFDS(channels, kernel_size=kernel_size, d_state=d_state)
    assert unique_parameter_count(block) == expected_gfds_params(channels, kernel_size, d_state)


@pytest.mark.parametrize(
    "channels, target_k, tol_k, x_proj_shape", [(64, 84.7, 0.05, (4, 36, 128)), (128, 219, 0.5, (4, 40, 256))]
)
def test_matches_spec_table(channels, target_k, tol_k, x_proj_shape):
    # spec §1.4 core shapes and §1.10: GFDS 84.7 K (d=64) and 219 K (d=128); tolerance = half the last digit shown
    block = GFDS(channels)
    assert abs(unique_parameter_count(block) / 1000 - target_k) <= tol_k
    r = math.ceil(channels / 16)
    for core in (block.core1, block.core2):
        assert tuple(core.x_proj_weight.shape) == x_proj_shape
        assert tuple(core.dt_projs_weight.shape) == (4, 2 * channels, r)
        assert tuple(core.A_logs.shape) == (4 * 2 * channels, 16)
        assert tuple(core.Ds.shape) == (4 * 2 * channels,)


def test_core_initialisation_and_shared_norm():
    torch.manual_seed(1)
    block = GFDS(16)
    assert block.core1.x_proj_weight is not block.core2.x_proj_weight
    torch.testing.assert_close(block.core1.x_proj_weight, block.core2.x_proj_weight, rtol=0, atol=0)
    assert not torch.equal(block.core1.dt_projs_weight, block.core2.dt_projs_weight)
    norms = [m for m in block.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 1 and norms[0].normalized_shape == (32,) and norms[0].eps == 1e-5


def test_gradient_reaches_every_parameter():
    torch.manual_seed(2)
    block = GFDS(8)
    x = torch.randn(2, 4, 6, 8, requires_grad=True)
    block(x).square().sum().backward()
    assert_all_parameters_have_grad(block)
    assert x.grad is not None


def test_matches_manual_recomputation():
    torch.manual_seed(3)
    c, k = 8, 9
    block = GFDS(c, kernel_size=k).eval()
    with torch.no_grad():
        bn = block.spatial[1]
        bn.running_mean.normal_(0.0, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.normal_(1.0, 0.2)
        bn.bias.normal_(0.0, 0.2)
        block.out_norm.weight.normal_(1.0, 0.2)
        block.out_norm.bias.normal_(0.0, 0.2)
    x = torch.randn(2, 8, 12, c)

    xz = x @ block.in_proj.weight.T
    xx, z = xz[..., :c].permute(0, 3, 1, 2), F.silu(xz[..., c:])
    dw = block.spatial[0]
    x_s = F.gelu(bn_eval(F.conv2d(xx, dw.weight, dw.bias, padding=1, groups=c), bn))

    # first convs: LL 3x3, LH 1xk, HL kx1, HH 3x3; second: LL 3x3, LH kx1, HL 1xk, HH 3x3
    pads1 = [(1, 1), (0, k // 2), (k // 2, 0), (1, 1)]
    pads2 = [(1, 1), (k // 2, 0), (0, k // 2), (1, 1)]
    subbands = []
    for s, conv1, conv2, p1, p2 in zip(_manual_dwt(xx), block.subband_convs1, block.subband_convs2, pads1, pads2):
        assert conv1.weight.shape[-2:] == (2 * p1[0] + 1, 2 * p1[1] + 1)
        assert conv2.weight.shape[-2:] == (2 * p2[0] + 1, 2 * p2[1] + 1)
        f = F.silu(F.conv2d(s, conv1.weight, conv1.bias, padding=p1, groups=c))
        subbands.append(F.silu(F.conv2d(f, conv2.weight, conv2.bias, padding=p2, groups=c)) + f)
    # cross-channel selection: channels interleaved (LL_c, LH_c, HL_c, HH_c); half 1 = source channels < c / 2
    b, _, h, w = subbands[0].shape
    y = torch.stack(subbands, dim=2).reshape(b, 4 * c, h, w)
    ln = block.out_norm
    outs = [
        F.layer_norm(core(half), (2 * c,), ln.weight, ln.bias, 1e-5)
        for core, half in zip((block.core1, block.core2), (y[:, : 2 * c], y[:, 2 * c :]))
    ]
    y = torch.cat(outs, dim=-1).permute(0, 3, 1, 2)
    conv = block.conv_out[0]
    y = F.silu(F.conv2d(y, conv.weight, conv.bias, padding=1, groups=4 * c))
    g = torch.sigmoid(F.conv2d(y, block.gate.weight, block.gate.bias))
    g = F.interpolate(g, size=x.shape[1:3], mode="bilinear", align_corners=False)
    y_sp = _manual_idwt(y).permute(0, 2, 3, 1) * z  # IDWT of the still-shuffled order
    x_s = (x_s * g).permute(0, 2, 3, 1)
    expected = torch.cat([y_sp, x_s], dim=-1) @ block.out_proj.weight.T

    torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size"):
        GFDS(8, kernel_size=4)
    with pytest.raises(ValueError, match="channels"):
        GFDS(0)
    with pytest.raises(ValueError, match="scan_backend"):
        GFDS(8, scan_backend="triton")
