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
"""Tests of the SSM initialisers (spec ``hifuse_medmamba.md`` §2.3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.layers.ssm_init import a_log_init, d_init, dt_bias_init, dt_projection_init_


@pytest.mark.parametrize("dt_rank,dt_scale", [(3, 1.0), (16, 0.5)])
def test_dt_projection_init_bounds(dt_rank: int, dt_scale: float) -> None:
    torch.manual_seed(0)
    w = torch.zeros(4, 200, dt_rank)
    out = dt_projection_init_(w, dt_rank, dt_scale)
    bound = dt_scale / math.sqrt(dt_rank)
    assert out is w
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.95 * bound  # fills the whole interval
    assert abs(w.mean().item()) < 0.05 * bound


def test_dt_bias_init_is_inverse_softplus_of_log_uniform_dt() -> None:
    torch.manual_seed(0)
    dt_min, dt_max = 1e-3, 0.1
    bias = dt_bias_init(20000, dt_min, dt_max, 1e-4)
    assert bias.shape == (20000,)
    dt = F.softplus(bias.double())
    assert dt.min() >= dt_min * (1 - 1e-4) and dt.max() <= dt_max * (1 + 1e-4)
    log_dt = dt.log()
    # log-uniform: log(dt) is uniform on [log dt_min, log dt_max]
    assert abs(log_dt.mean().item() - 0.5 * (math.log(dt_min) + math.log(dt_max))) < 0.05
    width = math.log(dt_max) - math.log(dt_min)
    assert abs(log_dt.std().item() - width / math.sqrt(12)) < 0.05


def test_dt_bias_init_floor() -> None:
    torch.manual_seed(0)
    dt = F.softplus(dt_bias_init(5000, dt_min=1e-5, dt_max=1e-3, dt_init_floor=1e-4).double())
    assert dt.min() >= 1e-4 * (1 - 1e-4)
    assert (torch.isclose(dt, torch.full_like(dt, 1e-4), rtol=1e-4)).sum() > 1000  # half the draws are clamped


def test_a_log_and_d_init() -> None:
    a_log = a_log_init(16, 5)
    assert a_log.shape == (5, 16)
    for row in torch.exp(a_log):
        torch.testing.assert_close(row, torch.arange(1.0, 17.0))
    torch.testing.assert_close(d_init(7), torch.ones(7))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="dt_rank"):
        dt_projection_init_(torch.empty(2, 2), 0)
    with pytest.raises(ValueError, match="dt_min"):
        dt_bias_init(4, dt_min=0.2, dt_max=0.1)
    with pytest.raises(ValueError, match="dt_init_floor"):
        dt_bias_init(4, dt_init_floor=0.0)
