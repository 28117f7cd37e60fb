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
"""Selective scan (the S6 recurrence of Mamba), with a reference loop, a fast pure-PyTorch path and mamba-ssm's kernel.

The recurrence, per channel ``d`` (belonging to direction ``k = d // D``) and time step ``t``::

    delta_t = softplus(delta_raw_t + delta_bias_d)          (if delta_softplus)
    h_t[n]  = exp(delta_t * A[d, n]) * h_{t-1}[n] + delta_t * B[k, n, t] * u_t,     h_{-1} = 0
    y_t     = sum_n C[k, n, t] * h_t[n] + D_d * u_t

Semantics and argument layout follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` with the grouped
``B``/``C`` layout used by VMamba/MedMamba (spec ``hifuse_medmamba.md`` §2.3, §2.8). Re-implemented from that
description; no code copied.

Shapes:
    u, delta: (batch, K * D, L)
    A: (K * D, N)
    B, C: (batch, K, N, L), each direction's N-vector shared by its D channels
    D: (K * D,) or None;  delta_bias: (K * D,) or None
    output: (batch, K * D, L)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["selective_scan", "selective_scan_reference", "selective_scan_flops", "SCAN_BACKENDS"]

SCAN_BACKENDS = ("auto", "reference", "torch", "cuda")


def _check_shapes(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> None:
    if u.dim() != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must both be (batch, K*D, L); got {tuple(u.shape)} and {tuple(delta.shape)}.")
    if A.dim() != 2 or A.shape[0] != u.shape[1]:
        raise ValueError(f"A must be (K*D, N) with K*D={u.shape[1]}; got {tuple(A.shape)}.")
    if B.dim() != 4 or C.shape != B.shape:
        raise ValueError(f"B and C must both be (batch, K, N, L); got {tuple(B.shape)} and {tuple(C.shape)}.")
    if B.shape[0] != u.shape[0] or B.shape[2] != A.shape[1] or B.shape[3] != u.shape[2] or u.shape[1] % B.shape[1]:
        raise ValueError(
            f"B/C {tuple(B.shape)} do not match u {tuple(u.shape)} and A {tuple(A.shape)}: expected "
            f"(batch={u.shape[0]}, K dividing {u.shape[1]}, N={A.shape[1]}, L={u.shape[2]})."
        )


def selective_scan_reference(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = True,
) -> torch.Tensor:
    """Plain sequential loop over L in fp32: the ground truth for the other backends (slow, differentiable)."""
    _check_shapes(u, delta, A, B, C)
    dtype_in = u.dtype
    u, delta, A, B, C = u.float(), delta.float(), A.float(), B.float(), C.float()
    batch, channels, length = u.shape
    groups = B.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias.float()[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # expand the grouped B/C to every channel: (batch, K*D, N, L)
    B = B.repeat_interleave(channels // groups, dim=1)
    C = C.repeat_interleave(channels // groups, dim=1)
    h = u.new_zeros(batch, channels, A.shape[1])
    ys = []
    for t in range(length):
        dt = delta[:, :, t, None]
        h = torch.exp(dt * A) * h + dt * B[:, :, :, t] * u[:, :, t, None]
        ys.append((h * C[:, :, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.float()[None, :, None] * u
    return y.to(dtype_in)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = True,
    backend: str = "auto",
) -> torch.Tensor:
    """Selective scan with a choice of backend.

    Args:
        u: input sequence, (batch, K*D, L).
        delta: raw step sizes, (batch, K*D, L).
        A: state matrix (diagonal per channel, negative), (K*D, N).
        B: input projection, (batch, K, N, L).
        C: output projection, (batch, K, N, L).
        D: per-channel skip, (K*D,), optional.
        delta_bias: added to ``delta`` before the softplus, (K*D,), optional.
        delta_softplus: apply softplus to ``delta``.
        backend: ``"reference"`` (sequential loop), ``"torch"`` (fast pure PyTorch, trains), ``"cuda"``
            (mamba-ssm's kernel) or ``"auto"`` (cuda when mamba-ssm is installed and the tensors are on CUDA,
            else torch).

    Returns:
        (batch, K*D, L), in the dtype of ``u``.
    """
    if backend not in SCAN_BACKENDS:
        raise ValueError(f"backend must be one of {SCAN_BACKENDS}, got {backend!r}.")
    if backend == "reference":
        return selective_scan_reference(u, delta, A, B, C, D, delta_bias, delta_softplus)
    # TODO(scan): torch and cuda backends
    return selective_scan_reference(u, delta, A, B, C, D, delta_bias, delta_softplus)


def selective_scan_flops(batch: int, length: int, channels: int, state: int, with_D: bool = True) -> int:
    """Analytic multiply-accumulate count of one selective scan (VMamba's ``flops_selective_scan_ref`` convention).

    fvcore, thop and ``torch.utils.flop_counter`` cannot see inside the scan, so cost tools add this figure.
    Args:
        batch: batch size. length: sequence length L. channels: K*D. state: N. with_D: count the D skip.
    """
    flops = 9 * batch * length * channels * state
    if with_D:
        flops += batch * channels * length
    return flops
