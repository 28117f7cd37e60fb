# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Tests of SS2DCore / SS2D (spec ``hifuse_medmamba.md`` §2.3, ``cdfinet_mfsf2net.md`` §1.4)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.ss2d import SS2D, SS2DCore
from monai_fusion.networks.ops.selective_scan import selective_scan_flops, selective_scan_reference


def _scan_orders(height: int, width: int) -> list[list[tuple[int, int]]]:
    """The (h, w) visiting order of each direction, written out position by position."""
    row_major = [(h, w) for h in range(height) for w in range(width)]
    col_major = [(h, w) for w in range(width) for h in range(height)]
    return [row_major, col_major, row_major[::-1], col_major[::-1]]


def _independent_core(core: SS2DCore, x: torch.Tensor) -> torch.Tensor:
    """Per direction: gather the sequence, project, scan with the reference loop, scatter back, and sum."""
    batch, d, height, width = x.shape
    r, n = core.dt_rank, core.d_state
    out = torch.zeros(batch, d, height, width)
    for k, order in enumerate(_scan_orders(height, width)):
        seq = torch.stack([x[:, :, h, w] for h, w in order], dim=-1)  # (B, D, L)
        x_dbl = torch.matmul(core.x_proj_weight[k], seq)  # (B, R + 2N, L)
        dt_raw, b, c = x_dbl[:, :r], x_dbl[:, r : r + n], x_dbl[:, r + n :]
        dt = torch.matmul(core.dt_projs_weight[k], dt_raw)  # (B, D, L)
        rows = slice(k * d, (k + 1) * d)
        y = selective_scan_reference(
            seq,
            dt,
            -torch.exp(core.A_logs[rows]),
            b[:, None],
            c[:, None],
            D=core.Ds[rows],
            delta_bias=core.dt_projs_bias[k],
            delta_softplus=True,
        )
        for t, (h, w) in enumerate(order):
            out[:, :, h, w] += y[:, :, t]
    return out.permute(0, 2, 3, 1)


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_core_matches_independent_four_direction_scan(backend: str) -> None:
    torch.manual_seed(0)
    core = SS2DCore(8, d_state=4, dt_rank=2, scan_backend=backend)
    with torch.no_grad():  # make every direction's A and D distinct so that a direction mix-up shows
        core.A_logs.add_(0.3 * torch.randn_like(core.A_logs))
        core.Ds.add_(0.5 * torch.randn_like(core.Ds))
    x = torch.randn(2, 8, 4, 6)
    y = core(x)
    assert y.shape == (2, 4, 6, 8)
    with torch.no_grad():
        expected = _independent_core(core, x)
    torch.testing.assert_close(y.detach(), expected, atol=1e-5, rtol=1e-4)


def test_core_parameters_and_defaults() -> None:
    core = SS2DCore(96)
    r = math.ceil(96 / 32)
    assert core.dt_rank == r == 3
    shapes = {name: tuple(p.shape) for name, p in core.named_parameters()}
    assert shapes == {
        "x_proj_weight": (4, r + 32, 96),
        "dt_projs_weight": (4, 96, r),
        "dt_projs_bias": (4, 96),
        "A_logs": (4 * 96, 16),
        "Ds": (4 * 96,),
    }
    assert core.x_proj_weight.abs().max() <= 1 / math.sqrt(96)  # nn.Linear default bound
    assert core.dt_projs_weight.abs().max() <= r**-0.5
    dt = F.softplus(core.dt_projs_bias)
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    assert core.flops(2, 4, 6) == selective_scan_flops(2, 24, 4 * 96, 16, with_D=True)


def test_ss2d_parameter_count_medmamba_t_stage1() -> None:
    c, d, r, n = 48, 96, 3, 16
    by_hand = (
        c * 2 * d  # in_proj, no bias
        + d * 9
        + d  # depthwise 3x3 with bias
        + 4 * (r + 2 * n) * d  # x_proj
        + 4 * d * r
        + 4 * d  # dt_projs weight and bias
        + 4 * d * n
        + 4 * d  # A_logs, Ds
        + 2 * d  # out_norm
        + d * c  # out_proj, no bias
    )
    assert by_hand == 36480
    model = SS2D(c)
    assert model.core.dt_rank == r
    assert sum(p.numel() for p in model.parameters()) == by_hand


def test_ss2d_forward_matches_composition_and_shape() -> None:
    torch.manual_seed(0)
    model = SS2D(6, d_state=4, scan_backend="reference").eval()
    x = torch.randn(2, 3, 5, 6)
    y = model(x)
    assert y.shape == x.shape
    with torch.no_grad():
        xz = x @ model.in_proj.weight.t()
        xi, z = xz[..., :12], xz[..., 12:]
        xi = F.silu(F.conv2d(xi.permute(0, 3, 1, 2), model.conv2d.weight, model.conv2d.bias, padding=1, groups=12))
        h = F.layer_norm(_independent_core(model.core, xi), (12,), model.out_norm.weight, model.out_norm.bias)
        expected = (h * F.silu(z)) @ model.out_proj.weight.t()
    torch.testing.assert_close(y.detach(), expected, atol=1e-5, rtol=1e-4)


def test_ss2d_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = SS2D(8, d_state=4, scan_backend="reference")
    model(torch.randn(2, 3, 4, 8)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ss2d_trace() -> None:
    torch.manual_seed(0)
    model = SS2D(4, d_state=2, scan_backend="reference").eval()
    x = torch.randn(1, 2, 3, 4)
    traced = torch.jit.trace(model, x)
    torch.testing.assert_close(traced(x), model(x))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="d_conv"):
        SS2D(8, d_conv=4)
    with pytest.raises(ValueError, match="scan_backend"):
        SS2DCore(8, scan_backend="triton")
    with pytest.raises(ValueError, match="d_inner"):
        SS2DCore(0)
    with pytest.raises(ValueError, match="channels-first"):
        SS2DCore(8)(torch.randn(1, 3, 3, 8))
