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

Paper: A. Gu and T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", arXiv:2312.00752 (2023),
as used by VMamba's / MedMamba's SS2D (Yue and Li, "MedMamba: Vision Mamba for Medical Image Classification",
arXiv:2403.03849). Re-implemented from the papers' descriptions; no code copied.

The recurrence, per channel ``d`` (belonging to direction ``k = d // D``) and time step ``t``::

    delta_t = softplus(delta_raw_t + delta_bias_d)          (if delta_softplus)
    h_t[n]  = exp(delta_t * A[d, n]) * h_{t-1}[n] + delta_t * B[k, n, t] * u_t,     h_{-1} = 0
    y_t     = sum_n C[k, n, t] * h_t[n] + D_d * u_t

Semantics and argument layout follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` with the grouped
``B``/``C`` layout used by VMamba/MedMamba.

Shapes:
    u, delta: (batch, K * D, L)
    A: (K * D, N)
    B, C: (batch, K, N, L), each direction's N-vector shared by its D channels
    D: (K * D,) or None;  delta_bias: (K * D,) or None
    output: (batch, K * D, L)

Backends:
    ``"reference"``: a sequential autograd loop over L; the ground truth (slow, memory-hungry in training).
    ``"torch"``: a custom ``torch.autograd.Function`` that streams over chunks of L. Forward keeps only the hidden state
    at each chunk boundary; backward recomputes the states of one chunk at a time and runs the adjoint recurrence
    backwards through it. Everything except the one-op-per-step recurrence is vectorised over the chunk. While
    tracing or scripting it is replaced by a plain-tensor two-level blocked scan (a custom Function cannot be
    serialised) whose graph grows with about ``3 * sqrt(L)`` steps instead of ``L``.
    ``"cuda"``: mamba-ssm's fused kernel, imported lazily on first use (``pip install -e ".[cuda]"``).
    ``"cpu"``: a fused C kernel for CPU tensors (selective_scan_cpu.c), forward and backward, compiled with the
    system C compiler on first use into a per-user cache (0.7-3 s once per machine, then about 10 ms per process to
    load it; see native_build.py) and run on ``torch.get_num_threads()`` threads. fp32 arithmetic (output and
    gradients within about 3e-7 of fp64 in the tests); fp64 inputs need ``"torch"``.
    ``"auto"``: ``"cuda"`` for CUDA tensors when mamba-ssm's kernel imports; for CPU tensors ``"cpu"`` when the fused
    kernel builds (and the inputs are not fp64, and no ``torch.compile`` is tracing), else ``"torch"``. When no C
    compiler is found or the build fails, a warning is logged once and ``"torch"`` is used. The environment variable
    ``MONAI_FUSION_SCAN_BACKEND`` (one of the backend names) replaces ``"auto"``, e.g. ``=torch`` to switch the fused
    kernel off; an explicit ``backend`` argument always wins.

All backends compute in fp32 (fp64 inputs stay fp64) and return the dtype of ``u``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

if __package__:
    from .native_build import NativeLibrary, load_native_library
else:  # loaded from its file, outside the package (scripts/benchmark_scan.py's workers skip importing MONAI)
    _spec = importlib.util.spec_from_file_location(
        "_monai_fusion_native_build", Path(__file__).with_name("native_build.py")
    )
    _native_build = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_native_build)
    NativeLibrary, load_native_library = _native_build.NativeLibrary, _native_build.load_native_library

__all__ = [
    "SCAN_BACKENDS",
    "TORCH_SCAN_CHUNK_ELEMENTS",
    "SCAN_BACKEND_ENV",
    "default_chunk_size",
    "is_cpu_scan_available",
    "is_cuda_scan_available",
    "selective_scan",
    "selective_scan_flops",
    "selective_scan_reference",
    "selective_scan_torch",
]

SCAN_BACKENDS = ("auto", "reference", "torch", "cuda", "cpu")

# when set to one of SCAN_BACKENDS, used in place of backend="auto" (e.g. "torch" to run without the fused CPU kernel)
SCAN_BACKEND_ENV = "MONAI_FUSION_SCAN_BACKEND"

logger = logging.getLogger(__name__)

# Size of one chunk's work buffers in the torch backend, in elements of (T, batch, K*D, N): the default chunk length
# is T = TORCH_SCAN_CHUNK_ELEMENTS // (batch * K*D * N), clamped to [4, 64]. Chosen by measurement (training, 1-2
# threads, scripts/benchmark_scan.py --chunk-sizes): the fastest T was 8 at CDFINet stage 1 (batch*K*D*N = 65536),
# 8-12 at MedMamba-T stage 1 (49152) and 16 or more with D = 48 (24576), i.e. buffers of about 2^19 elements (2 MiB)
# that stay in cache; 2-4x larger chunks were up to 2x slower, smaller ones pay more per-op overhead and keep more
# boundary states.
TORCH_SCAN_CHUNK_ELEMENTS = 1 << 19

_LOG2E = math.log2(math.e)

_CUDA_INSTALL_HINT = (
    'Install it with `pip install -e ".[cuda]"` (Linux, an NVIDIA GPU and a CUDA toolkit matching your torch build). '
    "When no prebuilt wheel fits your torch/CUDA/Python combination, build from source (needs nvcc and CUDA_HOME): "
    "`CAUSAL_CONV1D_FORCE_BUILD=TRUE pip install --no-build-isolation causal-conv1d` and "
    '`MAMBA_FORCE_BUILD=TRUE pip install --no-build-isolation mamba-ssm`. Or use backend="torch".'
)


def _check_shapes(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
) -> None:
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
    for name, vec in (("D", D), ("delta_bias", delta_bias)):
        if vec is not None and vec.shape != (u.shape[1],):
            raise ValueError(f"{name} must be (K*D,) = ({u.shape[1]},) or None; got {tuple(vec.shape)}.")


def _compute_dtype(u: torch.Tensor) -> torch.dtype:
    """fp32, or fp64 for fp64 inputs: half-precision inputs are scanned in fp32."""
    return torch.promote_types(u.dtype, torch.float32)


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
    """Plain sequential loop over L: the ground truth for the other backends (slow, differentiable by autograd).

    Args:
        u: input sequence, (batch, K*D, L).
        delta: raw step sizes, (batch, K*D, L).
        A: state matrix (diagonal per channel), (K*D, N).
        B: input projection, (batch, K, N, L).
        C: output projection, (batch, K, N, L).
        D: per-channel skip, (K*D,), optional.
        delta_bias: added to ``delta`` before the softplus, (K*D,), optional.
        delta_softplus: apply softplus to ``delta``.

    Returns:
        (batch, K*D, L), in the dtype of ``u``; computed in fp32 (fp64 for fp64 inputs).
    """
    if not torch.jit.is_tracing():
        _check_shapes(u, delta, A, B, C, D, delta_bias)
    dtype_in = u.dtype
    ct = _compute_dtype(u)
    u, delta, A, B, C = u.to(ct), delta.to(ct), A.to(ct), B.to(ct), C.to(ct)
    batch, channels, _ = u.shape
    groups = B.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias.to(ct)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # expand the grouped B/C to every channel: (batch, K*D, N, L)
    B = B.repeat_interleave(channels // groups, dim=1)
    C = C.repeat_interleave(channels // groups, dim=1)
    h = u.new_zeros(batch, channels, A.shape[1])
    ys = []
    for dt, b_t, c_t, u_t in zip(delta.unbind(-1), B.unbind(-1), C.unbind(-1), u.unbind(-1)):
        dt = dt[:, :, None]
        h = torch.exp(dt * A) * h + dt * b_t * u_t[:, :, None]
        ys.append((h * c_t).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.to(ct)[None, :, None] * u
    return y.to(dtype_in)


def default_chunk_size(batch: int, channels: int, state: int) -> int:
    """Chunk length of the torch backend for a problem size: about ``TORCH_SCAN_CHUNK_ELEMENTS`` per buffer.

    Args:
        batch: batch size.
        channels: number of scanned channels, K*D.
        state: state size N.

    Returns:
        the number of time steps per chunk, in [4, 64].
    """
    return max(4, min(64, TORCH_SCAN_CHUNK_ELEMENTS // max(batch * channels * state, 1)))


def _to_length_major(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, K*D, L) -> a fresh contiguous (batch, L, K*D) copy in ``dtype``."""
    return torch.empty(x.shape[0], x.shape[2], x.shape[1], dtype=dtype, device=x.device).copy_(x.transpose(1, 2))


def _groups_to_length_major(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, K, N, L) -> a fresh contiguous (batch, L, K, N) copy in ``dtype``."""
    batch, groups, state, length = x.shape
    out = torch.empty(batch, length, groups, state, dtype=dtype, device=x.device)
    return out.copy_(x.permute(0, 3, 1, 2))


def _chunk_view(x: torch.Tensor, start: int, stop: int, groups: int) -> torch.Tensor:
    """Steps ``start:stop`` of a (batch, L, K*D) tensor as a (T, batch, K, D) view."""
    return x[:, start:stop].unflatten(2, (groups, -1)).transpose(0, 1)


def _prepare(
    u: torch.Tensor, delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Length-major u, raw delta (bias added) and step size delta, each (batch, L, K*D) (the last two may alias)."""
    u_l = _to_length_major(u, dtype)
    raw_l = _to_length_major(delta, dtype)
    if delta_bias is not None:
        raw_l.add_(delta_bias.to(dtype))
    return u_l, raw_l, (F.softplus(raw_l) if delta_softplus else raw_l)


def _chunk_states(
    dt: torch.Tensor,
    dtu: torch.Tensor,
    b_chunk: torch.Tensor,
    a_log2: torch.Tensor,
    h0: torch.Tensor | None,
    decay: torch.Tensor,
    states: torch.Tensor,
) -> None:
    """Fill ``decay`` with exp(delta*A) and ``states`` with h_t for the T steps of one chunk, in place.

    Args:
        dt: step sizes, (T, batch, K, D).
        dtu: delta * u, (T, batch, K, D).
        b_chunk: B, (T, batch, K, N).
        a_log2: A * log2(e) laid out (K, N, D).
        h0: state before the chunk, (batch, K, N, D), or None for zeros.
        decay: output buffer, (T, batch, K, N, D).
        states: output buffer, (T, batch, K, N, D).
    """
    torch.mul(dt[:, :, :, None, :], a_log2, out=decay).exp2_()
    torch.mul(dtu[:, :, :, None, :], b_chunk[..., None], out=states)
    hs, decays = states.unbind(0), decay.unbind(0)
    if h0 is not None:
        hs[0].addcmul_(decays[0], h0)
    for t in range(1, len(hs)):
        hs[t].addcmul_(decays[t], hs[t - 1])


class _ChunkedSelectiveScan(torch.autograd.Function):
    """Chunked selective scan with a recomputing backward (see the module docstring).

    Internal layouts: per-channel tensors are (batch, L, K*D); chunk buffers are (T, batch, K, N, D) so that one time
    step is one contiguous slice and the grouped B/C broadcast over D.
    """

    @staticmethod
    def forward(
        ctx: Any,
        u: torch.Tensor,
        delta: torch.Tensor,
        A: torch.Tensor,
        B: torch.Tensor,
        C: torch.Tensor,
        D: torch.Tensor | None,
        delta_bias: torch.Tensor | None,
        delta_softplus: bool,
        chunk_size: int,
        save_states: bool,
    ) -> torch.Tensor:
        ct = _compute_dtype(u)
        batch, channels, length = u.shape
        groups, state = B.shape[1], B.shape[2]
        width = channels // groups
        chunk = min(chunk_size, length)
        n_chunks = -(-length // chunk)
        a_log2 = (A.to(ct) * _LOG2E).reshape(groups, width, state).transpose(1, 2).contiguous()
        u_l, raw_l = _to_length_major(u, ct), _to_length_major(delta, ct)
        if delta_bias is not None:
            raw_l.add_(delta_bias.to(ct))
        b_l, c_l = _groups_to_length_major(B, ct), _groups_to_length_major(C, ct)
        y_l = torch.empty_like(u_l)
        # the state entering every chunk after the first, for backward; without autograd one rolling buffer
        bounds = u_l.new_empty(n_chunks - 1 if save_states else min(n_chunks - 1, 1), batch, groups, state, width)
        decay = u_l.new_empty(chunk, batch, groups, state, width)
        states = torch.empty_like(decay)
        y_chunk, dtu = u_l.new_empty(chunk, batch, groups, width), u_l.new_empty(chunk, batch, groups, width)
        h0 = None
        for i in range(n_chunks):
            s, e = i * chunk, min(i * chunk + chunk, length)
            n = e - s
            hs, dt = states[:n], _chunk_view(raw_l, s, e, groups)
            if delta_softplus:
                dt = F.softplus(dt)
            torch.mul(dt, _chunk_view(u_l, s, e, groups), out=dtu[:n])
            _chunk_states(dt, dtu[:n], b_l[:, s:e].transpose(0, 1), a_log2, h0, decay[:n], hs)
            if i < n_chunks - 1:
                h0 = bounds[i if save_states else 0].copy_(hs[-1])
            torch.sum(hs.mul_(c_l[:, s:e, :, :, None].transpose(0, 1)), dim=-2, out=y_chunk[:n])
            _chunk_view(y_l, s, e, groups).copy_(y_chunk[:n])
        if D is not None:
            y_l.addcmul_(u_l, D.to(ct))
        ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, bounds)
        ctx.delta_softplus, ctx.chunk = delta_softplus, chunk
        return torch.empty_like(u).copy_(y_l.transpose(1, 2))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, delta, A, B, C, D, delta_bias, bounds = ctx.saved_tensors
        chunk = ctx.chunk
        ct = _compute_dtype(u)
        batch, channels, length = u.shape
        groups, state = B.shape[1], B.shape[2]
        width = channels // groups
        n_chunks = -(-length // chunk)
        a_r = A.to(ct).reshape(groups, width, state).transpose(1, 2).contiguous()
        a_log2 = a_r * _LOG2E
        u_l, raw_l, dt_l = _prepare(u, delta, delta_bias, ctx.delta_softplus, ct)
        b_l, c_l = _groups_to_length_major(B, ct), _groups_to_length_major(C, ct)
        gy_l = _to_length_major(grad_y, ct)
        grad_b_l, grad_c_l = torch.empty_like(b_l), torch.empty_like(c_l)
        # S = sum_n G * B (shared by du and d(delta)); grad_dt collects d loss / d delta (after the softplus)
        s_l, grad_dt_l = torch.empty_like(u_l), torch.empty_like(u_l)
        grad_a_r = torch.zeros_like(a_r)
        decay = u_l.new_empty(chunk, batch, groups, state, width)
        states, adj, tmp = torch.empty_like(decay), torch.empty_like(decay), torch.empty_like(decay)
        red_d, dtu_buf = u_l.new_empty(chunk, batch, groups, width), u_l.new_empty(chunk, batch, groups, width)
        red_n = u_l.new_empty(chunk, batch, groups, state)
        carry = u_l.new_empty(batch, groups, state, width)
        grad_d = None if D is None else torch.zeros(groups, width, dtype=ct, device=u.device)
        for i in range(n_chunks - 1, -1, -1):
            s, e = i * chunk, min(i * chunk + chunk, length)
            n = e - s
            dec, hs, g, scratch = decay[:n], states[:n], adj[:n], tmp[:n]
            h0 = bounds[i - 1] if i > 0 else None
            dt, u_chunk = _chunk_view(dt_l, s, e, groups), _chunk_view(u_l, s, e, groups)
            dtu = torch.mul(dt, u_chunk, out=dtu_buf[:n])
            b_chunk, c_chunk = b_l[:, s:e].transpose(0, 1), c_l[:, s:e].transpose(0, 1)
            _chunk_states(dt, dtu, b_chunk, a_log2, h0, dec, hs)
            gy = _chunk_view(gy_l, s, e, groups)[:, :, :, None, :]
            if grad_d is not None:  # dD = sum_t dy_t u_t
                grad_d += torch.mul(gy[:, :, :, 0], u_chunk, out=red_d[:n]).sum((0, 1))
            # dC[k, n, t] = sum_d dy_t[d] h_t[d, n]
            torch.sum(torch.mul(gy, hs, out=scratch), dim=-1, out=red_n[:n])
            grad_c_l[:, s:e].copy_(red_n[:n].transpose(0, 1))
            # adjoint: g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1}
            torch.mul(gy, c_chunk[..., None], out=g)
            gs, decays = g.unbind(0), dec.unbind(0)
            if i < n_chunks - 1:
                gs[-1].add_(carry)
            for t in range(n - 2, -1, -1):
                gs[t].addcmul_(decays[t + 1], gs[t + 1])
            # dB[k, n, t] = sum_d g_t[d, n] delta_t[d] u_t[d]
            torch.sum(torch.mul(g, dtu[:, :, :, None, :], out=scratch), dim=-1, out=red_n[:n])
            grad_b_l[:, s:e].copy_(red_n[:n].transpose(0, 1))
            torch.sum(torch.mul(g, b_chunk[..., None], out=scratch), dim=-2, out=red_d[:n])
            _chunk_view(s_l, s, e, groups).copy_(red_d[:n])
            # P_t = g_t * exp(delta_t A) * h_{t-1}: the gradient of the exponent delta_t * A
            p = dec.mul_(g)
            if i > 0:
                carry.copy_(p[0])
                p[0].mul_(h0)
            else:
                p[0].zero_()
            p[1:].mul_(hs[:-1])
            torch.sum(torch.mul(p, a_r, out=scratch), dim=-2, out=red_d[:n])
            _chunk_view(grad_dt_l, s, e, groups).copy_(red_d[:n])
            grad_a_r += p.mul_(dt[:, :, :, None, :]).sum((0, 1))
        # du = delta * S + D * dy;  d(delta) = u * S + sum_n P * A, times softplus' = sigmoid(raw)
        grad_dt_l.addcmul_(u_l, s_l)
        del u_l
        grad_u_l = s_l.mul_(dt_l)
        del s_l, dt_l
        if D is not None:
            grad_u_l.addcmul_(gy_l, D.to(ct))
        del gy_l
        grad_u = torch.empty_like(u).copy_(grad_u_l.transpose(1, 2))
        del grad_u_l
        if ctx.delta_softplus:
            grad_dt_l.mul_(raw_l.sigmoid_())
        del raw_l
        return (
            grad_u,
            torch.empty_like(delta).copy_(grad_dt_l.transpose(1, 2)),
            grad_a_r.transpose(1, 2).reshape(channels, state).to(A.dtype),
            torch.empty_like(B).copy_(grad_b_l.permute(0, 2, 3, 1)),
            torch.empty_like(C).copy_(grad_c_l.permute(0, 2, 3, 1)),
            None if grad_d is None else grad_d.flatten().to(D.dtype),
            None if delta_bias is None else grad_dt_l.sum((0, 1)).to(delta_bias.dtype),
            None,
            None,
            None,
        )


def _apply_chunked(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    chunk_size: int,
) -> torch.Tensor:
    tensors = (u, delta, A, B, C, D, delta_bias)
    save_states = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return _ChunkedSelectiveScan.apply(*tensors, delta_softplus, chunk_size, save_states)


def _selective_scan_blocked(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
) -> torch.Tensor:
    """Plain-tensor two-level scan for tracing/scripting: blocks of ``T ~ sqrt(L)`` steps scanned side by side.

    Pass 1 scans every block from a zero state (all blocks at once, T steps); pass 2 carries the block-end states
    across blocks (L/T steps, using each block's total decay exp(A * sum(delta))); pass 3 rescans every block from its
    true start state and reads out y. Same maths as the reference, about 3*sqrt(L) sequential steps, and only
    per-step tensors of (L/T, batch, K, N, D) are alive at a time.
    """
    ct = torch.promote_types(u.dtype, torch.float32)
    batch, channels, length = u.shape[0], u.shape[1], u.shape[2]
    groups, state = B.shape[1], B.shape[2]
    width = channels // groups
    if torch.jit.is_scripting():
        step = int(math.ceil(math.sqrt(length)))
    else:  # ceil(sqrt(L)) in integers: under tracing, L is a traced size that must not be turned into a float
        step = math.isqrt(length - 1) + 1
    n_blocks = (length + step - 1) // step
    pad = n_blocks * step - length
    u_f = u.to(ct)
    dt = delta.to(ct)
    if delta_bias is not None:
        dt = dt + delta_bias.to(ct)[:, None]
    if delta_softplus:
        dt = F.softplus(dt)
    dtu = dt * u_f
    b_f, c_f = B.to(ct), C.to(ct)
    # padded steps (after the last real one) have delta = 0: decay 1 and no input; no `if`, pad may be a traced size
    dt, dtu = F.pad(dt, [0, pad]), F.pad(dtu, [0, pad])
    b_f, c_f = F.pad(b_f, [0, pad]), F.pad(c_f, [0, pad])
    # (T, blocks, batch, K, 1, D) for per-channel terms, (T, blocks, batch, K, N, 1) for B/C
    dt = dt.reshape(batch, groups, width, n_blocks, step).permute(4, 3, 0, 1, 2).unsqueeze(-2)
    dtu = dtu.reshape(batch, groups, width, n_blocks, step).permute(4, 3, 0, 1, 2).unsqueeze(-2)
    b_f = b_f.reshape(batch, groups, state, n_blocks, step).permute(4, 3, 0, 1, 2).unsqueeze(-1)
    c_f = c_f.reshape(batch, groups, state, n_blocks, step).permute(4, 3, 0, 1, 2).unsqueeze(-1)
    a_r = A.to(ct).reshape(groups, width, state).transpose(1, 2)
    h = dtu[0] * b_f[0]
    for t in range(1, step):
        h = torch.exp(dt[t] * a_r) * h + dtu[t] * b_f[t]
    block_decay = torch.exp(dt.sum(0) * a_r)
    starts = [torch.zeros_like(h[0])]
    for c in range(1, n_blocks):
        starts.append(h[c - 1] + block_decay[c - 1] * starts[c - 1])
    h = torch.stack(starts, 0)
    ys = []
    for t in range(step):
        h = torch.exp(dt[t] * a_r) * h + dtu[t] * b_f[t]
        ys.append((h * c_f[t]).sum(-2))
    y = torch.stack(ys, 0).permute(2, 3, 4, 1, 0).reshape(batch, channels, n_blocks * step)[:, :, :length]
    if D is not None:
        y = y + D.to(ct)[:, None] * u_f
    return y.to(u.dtype)


def selective_scan_torch(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = True,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """The ``"torch"`` backend: chunked pure-PyTorch selective scan with a memory-light recomputing backward.

    Forward stores one (batch, K*D, N) state per chunk of ``chunk_size`` steps instead of all L states; backward
    recomputes a chunk's states and runs the adjoint recurrence through it. Double backward is not supported. While
    tracing, a plain-tensor blocked scan with the same maths is used instead (``selective_scan`` also does so under
    ``torch.jit.script``; this function itself is not scriptable).

    Args:
        u: input sequence, (batch, K*D, L).
        delta: raw step sizes, (batch, K*D, L).
        A: state matrix (diagonal per channel), (K*D, N).
        B: input projection, (batch, K, N, L).
        C: output projection, (batch, K, N, L).
        D: per-channel skip, (K*D,), optional.
        delta_bias: added to ``delta`` before the softplus, (K*D,), optional.
        delta_softplus: apply softplus to ``delta``.
        chunk_size: time steps per chunk, >= 1; None picks ``default_chunk_size(batch, K*D, N)``.

    Returns:
        (batch, K*D, L), in the dtype of ``u``.
    """
    if torch.jit.is_tracing():  # shapes are fixed constants of the trace; a custom Function cannot be traced
        return _selective_scan_blocked(u, delta, A, B, C, D, delta_bias, delta_softplus)
    _check_shapes(u, delta, A, B, C, D, delta_bias)
    if chunk_size is None:
        chunk_size = default_chunk_size(u.shape[0], u.shape[1], A.shape[1])
    elif chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of time steps or None, got {chunk_size}.")
    return _apply_chunked(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size)


@functools.lru_cache(maxsize=1)
def _load_cuda_scan() -> tuple[Callable[..., torch.Tensor] | None, str]:
    """Import mamba-ssm's ``selective_scan_fn`` and its compiled extension once; (fn or None, reason if None).

    Only ImportError (module or compiled extension missing) and OSError (a broken shared library) mean "unavailable";
    anything else raised by the import is a real bug and propagates.
    """
    try:
        importlib.import_module("selective_scan_cuda")
        interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    except (ImportError, OSError) as err:
        return None, f"{type(err).__name__}: {err}"
    return interface.selective_scan_fn, ""


def is_cuda_scan_available() -> bool:
    """Whether the ``"cuda"`` backend can run: a CUDA device is present and mamba-ssm's compiled kernel imports."""
    return torch.cuda.is_available() and _load_cuda_scan()[0] is not None


def _selective_scan_cuda(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
) -> torch.Tensor:
    fn, reason = _load_cuda_scan()
    problems = []
    if fn is None:
        problems.append(f"mamba-ssm's compiled selective-scan kernel could not be imported ({reason}).")
        problems.append(_CUDA_INSTALL_HINT)
    tensors = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "delta_bias": delta_bias}
    off_gpu = [f"{name} on {t.device}" for name, t in tensors.items() if t is not None and not t.is_cuda]
    if off_gpu:
        problems.append(f"the kernel needs CUDA tensors, got {', '.join(off_gpu)}; move them to a GPU.")
    if problems:
        raise RuntimeError('backend="cuda" cannot run: ' + " ".join(problems))
    # the kernel wants u/delta/B/C contiguous in the last dim and of one dtype, A/D/delta_bias in fp32
    dtype = u.dtype if u.dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32
    return fn(
        u.to(dtype).contiguous(),
        delta.to(dtype).contiguous(),
        A.float().contiguous(),
        B.to(dtype).contiguous(),
        C.to(dtype).contiguous(),
        D=None if D is None else D.float().contiguous(),
        z=None,
        delta_bias=None if delta_bias is None else delta_bias.float().contiguous(),
        delta_softplus=delta_softplus,
    ).to(u.dtype)


# ---------------------------------------------------------------------------------------------------------------------
# "cpu": the fused C kernel

CPU_SCAN_SOURCE = Path(__file__).resolve().with_name("selective_scan_cpu.c")
# time steps per tile of the C kernel; forward stores one checkpoint state per tile and backward keeps a tile's
# states, decays and dB/dC partial sums (4 x T x N x 16 floats, 256 KiB at N = 16) in the L2 cache. Measured at
# CDFINet stage 1, one thread: T = 16 was 40 % slower than T = 32-128 (more, shorter row segments per pass over L),
# T = 64 and 128 were within noise of each other.
CPU_SCAN_TILE = 64
_CPU_SCAN_ABI = 1
_CPU_SCAN_HINT = (
    "Install a C compiler (gcc or clang; e.g. `apt-get install gcc`, `xcode-select --install`) or set CC, then start "
    f'a new Python process; backend="torch" is the pure-PyTorch alternative (set {SCAN_BACKEND_ENV}=torch to make it '
    "the default)."
)


@functools.lru_cache(maxsize=1)
def _load_cpu_scan() -> NativeLibrary:
    """Build (first time on this machine) and load the fused CPU kernel once per process; logs once when it cannot."""
    native = load_native_library(CPU_SCAN_SOURCE, "selective_scan_cpu")
    if native.lib is not None:
        lib = native.lib
        try:
            lib.ss_abi_version.restype = ctypes.c_int
            abi = lib.ss_abi_version()
        except AttributeError as err:
            abi = f"missing symbol ({err})"
        if abi != _CPU_SCAN_ABI:
            native.lib, native.reason = None, f"{native.path} has ABI {abi}, expected {_CPU_SCAN_ABI}"
        else:
            ptr, i64, i32 = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
            common = [ptr] * 7 + [i32] + [i64] * 5 + [i32] * 3
            lib.ss_forward.argtypes = common + [ptr, ptr]
            lib.ss_forward.restype = i32
            lib.ss_backward.argtypes = common + [ptr] * 9
            lib.ss_backward.restype = i32
            lib.ss_max_state.restype = i32
            lib.ss_vector_width.restype = i32
            lib.ss_exp_loop.argtypes = [i64]
            lib.ss_exp_loop.restype = ctypes.c_float
    if native.lib is None:
        logger.warning(
            "The fused CPU selective scan is unavailable, so the slower torch backend is used: %s. %s",
            native.reason,
            _CPU_SCAN_HINT,
        )
    return native


def is_cpu_scan_available() -> bool:
    """Whether the ``"cpu"`` backend can run: its C kernel is built (compiling it on the first call) and loads."""
    return _load_cpu_scan().lib is not None


def _cpu_scan_splits(batch: int, groups: int, blocks: int, threads: int) -> int:
    """Tasks per (batch, direction) group: enough tasks for ``threads`` (4 each), at most one per channel block."""
    if threads <= 1:
        return 1
    return max(1, min(blocks, -(-4 * threads // (batch * groups))))


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _FusedCpuSelectiveScan(torch.autograd.Function):
    """The fused C kernel (selective_scan_cpu.c) as an autograd Function; fp32 contiguous buffers, any input dtype."""

    @staticmethod
    def forward(
        ctx: Any,
        u: torch.Tensor,
        delta: torch.Tensor,
        A: torch.Tensor,
        B: torch.Tensor,
        C: torch.Tensor,
        D: torch.Tensor | None,
        delta_bias: torch.Tensor | None,
        delta_softplus: bool,
        save_states: bool,
    ) -> torch.Tensor:
        lib = _load_cpu_scan().lib
        batch, channels, length = u.shape
        groups, state = B.shape[1], B.shape[2]
        width = channels // groups
        vw = lib.ss_vector_width()
        blocks, tiles = -(-width // vw), -(-length // CPU_SCAN_TILE)
        threads = torch.get_num_threads()
        f32 = [None if t is None else t.detach().to(torch.float32).contiguous() for t in (u, delta, A, B, C, D)]
        f32.append(None if delta_bias is None else delta_bias.detach().to(torch.float32).contiguous())
        y = torch.empty(batch, channels, length, dtype=torch.float32)
        ckpt = torch.empty(batch, groups, blocks, tiles, state, vw, dtype=torch.float32) if save_states else None
        splits = _cpu_scan_splits(batch, groups, blocks, threads)
        status = lib.ss_forward(
            *(_ptr(t) for t in f32),
            int(delta_softplus),
            batch,
            groups,
            width,
            state,
            length,
            CPU_SCAN_TILE,
            splits,
            threads,
            y.data_ptr(),
            _ptr(ckpt),
        )
        if status:
            raise MemoryError(f"the fused CPU selective scan could not allocate its work buffers (status {status}).")
        ctx.save_for_backward(*f32, ckpt)
        ctx.delta_softplus, ctx.tile = delta_softplus, CPU_SCAN_TILE
        ctx.dtypes = [None if t is None else t.dtype for t in (u, delta, A, B, C, D, delta_bias)]
        return y if u.dtype == torch.float32 else y.to(u.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        u, delta, A, B, C, D, delta_bias, ckpt = ctx.saved_tensors
        lib = _load_cpu_scan().lib
        batch, channels, length = u.shape
        groups, state = B.shape[1], B.shape[2]
        width = channels // groups
        blocks = ckpt.shape[2]
        threads = torch.get_num_threads()
        splits = _cpu_scan_splits(batch, groups, blocks, threads)
        gy = grad_y.to(torch.float32).contiguous()
        grad_u, grad_delta = torch.empty_like(u), torch.empty_like(u)
        grad_a = u.new_empty(batch, channels, state)
        grad_b = u.new_empty(batch, groups, splits, state, length)
        grad_c = torch.empty_like(grad_b)
        grad_d, grad_bias = u.new_empty(batch, channels), u.new_empty(batch, channels)
        status = lib.ss_backward(
            *(_ptr(t) for t in (u, delta, A, B, C, D, delta_bias)),
            int(ctx.delta_softplus),
            batch,
            groups,
            width,
            state,
            length,
            ctx.tile,
            splits,
            threads,
            gy.data_ptr(),
            ckpt.data_ptr(),
            *(t.data_ptr() for t in (grad_u, grad_delta, grad_a, grad_b, grad_c, grad_d, grad_bias)),
        )
        if status:
            raise MemoryError(f"the fused CPU selective scan could not allocate its work buffers (status {status}).")
        grad_b = grad_b[:, :, 0] if splits == 1 else grad_b.sum(2)
        grad_c = grad_c[:, :, 0] if splits == 1 else grad_c.sum(2)
        grads = [grad_u, grad_delta, grad_a.sum(0), grad_b, grad_c]
        grads += [None if D is None else grad_d.sum(0), None if delta_bias is None else grad_bias.sum(0)]
        grads = [g if g is None or dt == torch.float32 else g.to(dt) for g, dt in zip(grads, ctx.dtypes)]
        return (*grads, None, None)


def _selective_scan_cpu(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
) -> torch.Tensor:
    native = _load_cpu_scan()
    tensors = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "delta_bias": delta_bias}
    problems = []
    if native.lib is None:
        problems.append(f"its C kernel is unavailable ({native.reason}). {_CPU_SCAN_HINT}")
    elif A.shape[1] > native.lib.ss_max_state():
        problems.append(
            f"the kernel supports N <= {native.lib.ss_max_state()}, got N={A.shape[1]}; use backend='torch'."
        )
    off_cpu = [f"{name} on {t.device}" for name, t in tensors.items() if t is not None and t.device.type != "cpu"]
    if off_cpu:
        problems.append(f"it needs CPU tensors, got {', '.join(off_cpu)}; use backend='cuda' or 'torch' for those.")
    fp64 = [name for name, t in tensors.items() if t is not None and t.dtype == torch.float64]
    if fp64:
        problems.append(f"it computes in fp32 and {', '.join(fp64)} are fp64; use backend='torch' for fp64.")
    if problems:
        raise RuntimeError('backend="cpu" cannot run: ' + " ".join(problems))
    if u.numel() == 0:  # an empty batch or sequence: an empty output, still attached to u
        return u * 0
    save_states = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors.values())
    return _FusedCpuSelectiveScan.apply(u, delta, A, B, C, D, delta_bias, delta_softplus, save_states)


def _auto_uses_cpu_kernel(tensors: tuple[torch.Tensor | None, ...]) -> bool:
    """backend="auto" on CPU: the fused kernel unless an input is fp64, torch.compile is tracing, or it is absent."""
    if any(t is not None and (t.device.type != "cpu" or t.dtype == torch.float64) for t in tensors):
        return False
    if torch.compiler.is_compiling():
        return False
    native = _load_cpu_scan()
    return native.lib is not None and tensors[2].shape[1] <= native.lib.ss_max_state()


def _resolve_backend(backend: str) -> str:
    if backend not in SCAN_BACKENDS:
        raise ValueError(f"backend must be one of {SCAN_BACKENDS}, got {backend!r}.")
    if backend == "auto":
        forced = os.environ.get(SCAN_BACKEND_ENV, "").strip()
        if forced:
            if forced not in SCAN_BACKENDS:
                raise ValueError(
                    f"environment variable {SCAN_BACKEND_ENV}={forced!r} is not a scan backend; use one of "
                    f"{SCAN_BACKENDS} or unset it."
                )
            return forced
    return backend


def _selective_scan_eager(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    backend: str,
) -> torch.Tensor:
    backend = _resolve_backend(backend)
    if torch.jit.is_tracing():
        # shapes are constants of the trace (checking them would only add tracer warnings), and neither
        # mamba-ssm's kernel nor a custom autograd Function can be traced
        if backend == "reference":
            return selective_scan_reference(u, delta, A, B, C, D, delta_bias, delta_softplus)
        return _selective_scan_blocked(u, delta, A, B, C, D, delta_bias, delta_softplus)
    _check_shapes(u, delta, A, B, C, D, delta_bias)
    if backend == "reference":
        return selective_scan_reference(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if backend == "cuda" or (backend == "auto" and u.is_cuda and is_cuda_scan_available()):
        return _selective_scan_cuda(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if backend == "cpu" or (backend == "auto" and _auto_uses_cpu_kernel((u, delta, A, B, C, D, delta_bias))):
        return _selective_scan_cpu(u, delta, A, B, C, D, delta_bias, delta_softplus)
    chunk_size = default_chunk_size(u.shape[0], u.shape[1], A.shape[1])
    return _apply_chunked(u, delta, A, B, C, D, delta_bias, delta_softplus, chunk_size)


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

    While tracing (``torch.jit.trace``, ONNX export), every backend except ``"reference"`` runs the plain-tensor
    blocked scan, since neither mamba-ssm's kernel nor the torch backend's custom autograd Function can be serialised;
    under ``torch.jit.script`` every backend does.

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
            (mamba-ssm's kernel), ``"cpu"`` (the fused C kernel) or ``"auto"`` (cuda when mamba-ssm is installed
            and the tensors are on CUDA; cpu for CPU tensors when its kernel builds; else torch). The environment
            variable ``MONAI_FUSION_SCAN_BACKEND`` replaces ``"auto"``.

    Returns:
        (batch, K*D, L), in the dtype of ``u``.

    Raises:
        ValueError: unknown ``backend`` (argument or environment variable) or inconsistent shapes.
        RuntimeError: ``backend="cuda"`` without mamba-ssm's kernel or with tensors off the GPU; ``backend="cpu"``
            without its kernel, with tensors off the CPU or with fp64 inputs.
    """
    if torch.jit.is_scripting():
        return _selective_scan_blocked(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if torch.compiler.is_exporting() and backend != "reference":  # torch.export (torch.onnx's default exporter)
        return _selective_scan_blocked(u, delta, A, B, C, D, delta_bias, delta_softplus)  # cannot lift as_subclass
    # tensor subclasses (MONAI's MetaTensor) would pay their __torch_function__ overhead on every scan step, and
    # some of their methods (new_empty) take other arguments; scan plain tensors, still attached to autograd
    u, delta, A, B, C = (t.as_subclass(torch.Tensor) for t in (u, delta, A, B, C))
    D = None if D is None else D.as_subclass(torch.Tensor)
    delta_bias = None if delta_bias is None else delta_bias.as_subclass(torch.Tensor)
    return _selective_scan_eager(u, delta, A, B, C, D, delta_bias, delta_softplus, backend)


def selective_scan_flops(batch: int, length: int, channels: int, state: int, with_D: bool = True) -> int:
    """Analytic multiply-accumulate count of one selective scan (VMamba's ``flops_selective_scan_ref`` convention).

    fvcore, thop and ``torch.utils.flop_counter`` cannot see inside the scan, so cost tools add this figure:
    ``9 * batch * length * channels * state``, plus ``batch * channels * length`` for the D skip.

    Args:
        batch: batch size.
        length: sequence length L.
        channels: number of scanned channels, K*D.
        state: state size N.
        with_D: count the D skip.

    Returns:
        the multiply-accumulate count.
    """
    flops = 9 * batch * length * channels * state
    if with_D:
        flops += batch * channels * length
    return flops
