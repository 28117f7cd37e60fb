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
"""Initialisers for the selective-scan (S6) parameters shared by every SSM block (Mamba / VMamba conventions).

Mamba: Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", arXiv:2312.00752; VMamba: Liu et
al., "VMamba: Visual State Space Model", NeurIPS 2024, arXiv:2401.10166. Re-implemented from the papers' descriptions;
no code copied.

Shapes: ``dt_bias_init(d)`` -> (d,); ``a_log_init(d_state, channels)`` -> (channels, d_state);
``d_init(channels)`` -> (channels,).
"""

from __future__ import annotations

import math

import torch

__all__ = ["dt_projection_init_", "dt_bias_init", "a_log_init", "d_init"]


def dt_projection_init_(weight: torch.Tensor, dt_rank: int, dt_scale: float = 1.0) -> torch.Tensor:
    """Fill the dt projection weight in place with U(-s, s), ``s = dt_rank ** -0.5 * dt_scale`` ("random" dt init).

    Args:
        weight: the weight of the dt_rank -> channels projection, any shape.
        dt_rank: R, the input width of the projection.
        dt_scale: multiplies the bound.

    Returns:
        ``weight`` (modified in place).
    """
    if dt_rank < 1:
        raise ValueError(f"dt_rank must be a positive integer, got {dt_rank}.")
    bound = dt_rank**-0.5 * dt_scale
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def dt_bias_init(d: int, dt_min: float = 1e-3, dt_max: float = 0.1, dt_init_floor: float = 1e-4) -> torch.Tensor:
    """Bias of the dt projection such that ``softplus(bias)`` is log-uniform in ``[dt_min, dt_max]``.

    dt is drawn log-uniformly, clamped at ``>= dt_init_floor``, and mapped through the inverse softplus
    ``dt + log(-expm1(-dt))``.

    Args:
        d: number of channels.
        dt_min: lower end of the log-uniform range (> 0).
        dt_max: upper end of the log-uniform range (>= dt_min).
        dt_init_floor: lower clamp of dt (> 0).

    Returns:
        (d,) float32 tensor.
    """
    if not 0 < dt_min <= dt_max:
        raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}.")
    if dt_init_floor <= 0:
        raise ValueError(f"dt_init_floor must be > 0, got {dt_init_floor}.")
    log_dt = torch.rand(d) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    dt = torch.exp(log_dt).clamp(min=dt_init_floor)
    return dt + torch.log(-torch.expm1(-dt))


def a_log_init(d_state: int, channels: int) -> torch.Tensor:
    """S4D-real initialisation of ``A_log``: every row is ``log(1), log(2), ..., log(d_state)``; A = -exp(A_log).

    Args:
        d_state: N, the state size.
        channels: number of rows (channels times directions).

    Returns:
        (channels, d_state) float32 tensor.
    """
    return torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(channels, 1)


def d_init(channels: int) -> torch.Tensor:
    """Initial per-channel skip ``D``: ones.

    Args:
        channels: number of channels (times directions).

    Returns:
        (channels,) float32 tensor of ones.
    """
    return torch.ones(channels)
