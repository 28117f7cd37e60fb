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
"""Tests of the selective-scan backends against the sequential reference loop (hifuse_medmamba.md §2.3, §2.8).

Accuracy is measured as max|a - b| / max|b| against the reference run in float64 on the same input values, so the
figure is the error of the fp32 backend alone, for the output and for the gradient of every input.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import math

import pytest
import torch
from torch import nn

from monai_fusion.networks.ops.selective_scan import (
    default_chunk_size,
    is_cpu_scan_available,
    is_cuda_scan_available,
    selective_scan,
    selective_scan_flops,
    selective_scan_reference,
    selective_scan_torch,
)

# the package re-exports the function ``selective_scan``, which shadows the submodule of the same name
scan_module = importlib.import_module("monai_fusion.networks.ops.selective_scan")

NAMES = ("u", "delta", "A", "B", "C", "D", "delta_bias")


def make_inputs(
    batch: int, groups: int, width: int, state: int, length: int, softplus: bool = True, seed: int = 0
) -> dict[str, torch.Tensor]:
    """float64 inputs with fp32-representable values, in the regime of an initialised SS2D: small steps, long memory."""
    g = torch.Generator().manual_seed(seed)
    channels = groups * width
    u = torch.randn(batch, channels, length, generator=g, dtype=torch.float64)
    if softplus:
        delta = 0.5 * torch.randn(batch, channels, length, generator=g, dtype=torch.float64)
        # inverse softplus of step sizes log-uniform in [1e-3, 1e-1], as in the dt_projs_bias initialisation
        dt = torch.exp(torch.empty(channels, dtype=torch.float64).uniform_(math.log(1e-3), math.log(1e-1), generator=g))
        delta_bias = dt + torch.log(-torch.expm1(-dt))
    else:  # no softplus: delta (+ bias) must itself be a positive step size
        delta = 0.1 * torch.rand(batch, channels, length, generator=g, dtype=torch.float64)
        delta_bias = 0.05 * torch.rand(channels, generator=g, dtype=torch.float64)
    a_log = torch.log(torch.arange(1, state + 1, dtype=torch.float64)).repeat(channels, 1)
    A = -torch.exp(a_log + 0.1 * torch.randn(channels, state, generator=g, dtype=torch.float64))
    B = torch.randn(batch, groups, state, length, generator=g, dtype=torch.float64)
    C = torch.randn(batch, groups, state, length, generator=g, dtype=torch.float64)
    D = torch.randn(channels, generator=g, dtype=torch.float64)
    inputs = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "delta_bias": delta_bias}
    return {k: v.float().double() for k, v in inputs.items()}  # exactly representable in fp32


def run_with_grads(fn, inputs: dict[str, torch.Tensor], dtype: torch.dtype, grad_out: torch.Tensor, **kwargs):
    """Output and input gradients of ``fn`` on copies of ``inputs`` cast to ``dtype``; None entries stay None."""
    leaves = {k: (None if v is None else v.detach().to(dtype, copy=True).requires_grad_()) for k, v in inputs.items()}
    y = fn(**leaves, **kwargs)
    y.backward(grad_out.to(y.dtype))
    return y.detach(), {k: v.grad for k, v in leaves.items() if v is not None}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


CASES = [
    # (length, groups, with_D, with_bias, softplus, chunk_size)
    (1, 1, True, True, True, None),
    (1, 4, False, False, False, None),
    (37, 4, True, True, True, 8),  # odd L, full chunks and a partial one
    (37, 1, False, False, True, 16),
    (37, 4, True, False, False, None),
    (16, 4, True, True, True, 16),  # exactly one chunk
    (33, 2, False, True, True, 8),  # crosses four chunk boundaries
    (10, 4, True, True, False, 3),
    (3136, 4, True, True, True, None),  # MedMamba stage-1 length, tiny channels
]


@pytest.mark.parametrize("length,groups,with_D,with_bias,softplus,chunk_size", CASES)
def test_torch_backend_matches_reference(length, groups, with_D, with_bias, softplus, chunk_size):
    batch, width, state = (1, 1, 4) if length > 1000 else (2, 3, 5)
    inputs = make_inputs(batch, groups, width, state, length, softplus=softplus, seed=length)
    if not with_D:
        inputs["D"] = None
    if not with_bias:
        inputs["delta_bias"] = None
    grad_out = torch.randn(
        batch, groups * width, length, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    y_ref, g_ref = run_with_grads(selective_scan_reference, inputs, torch.float64, grad_out, delta_softplus=softplus)
    y, g = run_with_grads(
        selective_scan_torch, inputs, torch.float32, grad_out, delta_softplus=softplus, chunk_size=chunk_size
    )
    assert y.dtype == torch.float32 and y.shape == (batch, groups * width, length)
    assert rel_err(y, y_ref) <= 1e-5
    assert set(g) == set(g_ref)
    for name in g_ref:
        assert g[name].shape == inputs[name].shape and g[name].dtype == torch.float32, name
        if g_ref[name].abs().max() == 0:  # dA at L = 1: h_{-1} = 0, so A has no influence
            assert g[name].abs().max() == 0, name
        else:
            assert rel_err(g[name], g_ref[name]) <= 1e-5, name


def test_torch_backend_is_exact_in_float64():
    """In float64 the chunked scan and its hand-written backward reproduce the reference to rounding."""
    inputs = make_inputs(2, 4, 3, 5, 45, seed=3)
    grad_out = torch.randn(2, 12, 45, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y_ref, g_ref = run_with_grads(selective_scan_reference, inputs, torch.float64, grad_out)
    y, g = run_with_grads(selective_scan_torch, inputs, torch.float64, grad_out, chunk_size=7)
    assert y.dtype == torch.float64
    assert rel_err(y, y_ref) < 1e-12
    for name in NAMES:
        assert rel_err(g[name], g_ref[name]) < 1e-12, name


def test_default_backends_agree_and_keep_dtype():
    inputs = make_inputs(2, 4, 3, 5, 20, seed=4)
    x32 = {k: v.float() for k, v in inputs.items()}
    y_torch = selective_scan(**x32, backend="torch")
    # "auto" on CPU tensors is the fused kernel when it builds (test_selective_scan_cpu.py), else the torch backend
    if is_cpu_scan_available():
        assert rel_err(selective_scan(**x32), y_torch) <= 1e-5
    else:
        assert torch.equal(selective_scan(**x32), y_torch)
    assert torch.equal(selective_scan_torch(**x32), y_torch)
    assert rel_err(selective_scan(**x32, backend="reference"), y_torch) < 1e-5
    y_bf16 = selective_scan(**{**x32, "u": x32["u"].bfloat16()}, backend="torch")
    assert y_bf16.dtype == torch.bfloat16


def test_non_contiguous_inputs_and_partial_grads():
    """SS2D passes B/C as views split off one projection; only some inputs may require a gradient."""
    inputs = make_inputs(2, 4, 3, 5, 21, seed=5)
    x32 = {k: v.float() for k, v in inputs.items()}
    packed = torch.cat([x32["B"], x32["C"]], dim=2)  # (batch, K, 2N, L)
    b_view, c_view = torch.split(packed, [5, 5], dim=2)
    u = x32["u"].transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()  # length-major storage
    y = selective_scan_torch(u, x32["delta"], x32["A"], b_view, c_view, x32["D"], x32["delta_bias"])
    assert not b_view.is_contiguous()
    assert rel_err(y, selective_scan_reference(**inputs)) <= 1e-5
    y.sum().backward()
    u_ref = inputs["u"].clone().requires_grad_()
    selective_scan_reference(**{**inputs, "u": u_ref}).sum().backward()
    assert rel_err(u.grad, u_ref.grad) <= 1e-5


def test_torch_backend_saves_only_chunk_boundary_states():
    batch, groups, width, state, length, chunk = 2, 4, 3, 5, 50, 8
    x32 = {k: v.float().requires_grad_() for k, v in make_inputs(batch, groups, width, state, length).items()}
    y = selective_scan_torch(**x32, chunk_size=chunk)
    input_ids = {id(v) for v in x32.values()}
    extra = [t for t in y.grad_fn.saved_tensors if t is not None and id(t) not in input_ids]
    n_chunks = math.ceil(length / chunk)
    # one (batch, K*D, N) state per chunk boundary, instead of the L states an autograd loop keeps
    assert sum(t.numel() for t in extra) == (n_chunks - 1) * batch * groups * width * state
    with pytest.raises(RuntimeError):  # the hand-written backward is not itself differentiable
        (g,) = torch.autograd.grad(y.square().sum(), x32["u"], create_graph=True)
        g.sum().backward()


class _ScanModule(nn.Module):
    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend

    def forward(self, u, delta, A, B, C, D, delta_bias) -> torch.Tensor:
        return selective_scan(u, delta, A, B, C, D, delta_bias, delta_softplus=True, backend=self.backend)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.trace is deprecated in favour of torch.export
@pytest.mark.filterwarnings("ignore:.*is deprecated.*")
@pytest.mark.parametrize("length", [1, 37, 49])
def test_traced_torch_backend_matches_reference(length):
    inputs = make_inputs(2, 4, 3, 5, length, seed=6)
    args64 = tuple(inputs[k] for k in NAMES)
    traced = torch.jit.trace(_ScanModule("torch"), tuple(a.float() for a in args64))
    assert "prim::PythonOp" not in str(traced.inlined_graph)  # the custom autograd Function was not traced
    y_ref = selective_scan_reference(*args64)
    assert rel_err(traced(*(a.float() for a in args64)), y_ref) <= 1e-5
    # traced in float64 the plain-tensor path is exact, and autograd flows through it
    traced64 = torch.jit.trace(_ScanModule("auto"), args64)
    leaves = [a.clone().requires_grad_() for a in args64]
    traced64(*leaves).sum().backward()
    leaves_ref = [a.clone().requires_grad_() for a in args64]
    selective_scan_reference(*leaves_ref).sum().backward()
    assert rel_err(traced64(*args64), y_ref) < 1e-12
    for name, a, b in zip(NAMES, leaves, leaves_ref):
        if b.grad.abs().max() > 0:
            assert rel_err(a.grad, b.grad) < 1e-12, name


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore:.*is deprecated.*")
def test_traced_graph_grows_like_sqrt_length():
    def graph_size(length: int) -> int:
        args = tuple(v.float() for v in make_inputs(1, 1, 1, 2, length).values())
        return len(list(torch.jit.trace(_ScanModule("torch"), args).inlined_graph.nodes()))

    # a per-step loop would grow 9x from L=100 to L=900; the blocked scan grows about 3x
    assert graph_size(900) < 4 * graph_size(100)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_scripted_scan_matches_reference():
    inputs = make_inputs(2, 4, 3, 5, 23, seed=7)
    scripted = torch.jit.script(_ScanModule("torch"))
    args = tuple(inputs[k].float() for k in NAMES)
    assert rel_err(scripted(*args), selective_scan_reference(**inputs)) <= 1e-5


def test_invalid_arguments_raise_value_error():
    x = {k: v.float() for k, v in make_inputs(2, 4, 3, 5, 9).items()}
    with pytest.raises(ValueError, match="backend"):
        selective_scan(**x, backend="triton")
    bad = {
        "u": x["u"][:, :, :-1],  # delta/u length mismatch
        "A": x["A"][:-1],  # A rows != K*D
        "B": x["B"][:, :, :-1],  # N of B != N of A
        "C": x["C"][:1],  # C batch != B batch
        "D": x["D"][:-1],
        "delta_bias": x["delta_bias"][None],
    }
    for name, value in bad.items():
        for backend in ("reference", "torch", "auto", "cpu"):
            with pytest.raises(ValueError):
                selective_scan(**{**x, name: value}, backend=backend)
    with pytest.raises(ValueError, match="K dividing"):  # 12 channels cannot be split into 5 groups
        selective_scan(**{**x, "B": x["B"].repeat(1, 2, 1, 1)[:, :5], "C": x["C"].repeat(1, 2, 1, 1)[:, :5]})
    with pytest.raises(ValueError, match="chunk_size"):
        selective_scan_torch(**x, chunk_size=0)


def test_cuda_backend_without_kernel_raises_with_install_hint(monkeypatch):
    x = {k: v.float() for k, v in make_inputs(1, 2, 2, 3, 5).items()}
    monkeypatch.setattr(scan_module, "_load_cuda_scan", lambda: (None, "ModuleNotFoundError: No module named 'x'"))
    assert not is_cuda_scan_available()
    with pytest.raises(RuntimeError) as info:
        selective_scan(**x, backend="cuda")
    msg = str(info.value)
    assert 'pip install -e ".[cuda]"' in msg and "MAMBA_FORCE_BUILD=TRUE" in msg and "CAUSAL_CONV1D_FORCE_BUILD" in msg
    assert "No module named 'x'" in msg


def test_cuda_backend_rejects_cpu_tensors(monkeypatch):
    x = {k: v.float() for k, v in make_inputs(1, 2, 2, 3, 5).items()}
    monkeypatch.setattr(scan_module, "_load_cuda_scan", lambda: (lambda *a, **k: pytest.fail("kernel called"), ""))
    with pytest.raises(RuntimeError, match="CUDA tensors"):
        selective_scan(**x, backend="cuda")


def test_auto_backend_on_cpu_never_loads_the_kernel(monkeypatch):
    x = {k: v.float() for k, v in make_inputs(1, 2, 2, 3, 5).items()}
    monkeypatch.setattr(scan_module, "_load_cuda_scan", lambda: pytest.fail("mamba-ssm import attempted"))
    assert rel_err(selective_scan(**x, backend="auto"), selective_scan(**x, backend="torch")) <= 1e-5


def test_module_never_imports_mamba_ssm_at_import_time():
    """The kernel is only imported inside ``_load_cuda_scan``: no import statement anywhere names it."""
    tree = ast.parse(inspect.getsource(scan_module))
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported and not any("mamba" in name or "selective_scan_cuda" in name for name in imported)
    loader_source = inspect.getsource(scan_module._load_cuda_scan.__wrapped__)
    assert 'import_module("mamba_ssm.ops.selective_scan_interface")' in loader_source


def test_real_environment_availability_is_consistent():
    available = is_cuda_scan_available()
    assert isinstance(available, bool)
    if not torch.cuda.is_available():
        assert not available


@pytest.mark.gpu
@pytest.mark.skipif(not is_cuda_scan_available(), reason="needs a CUDA device and mamba-ssm's compiled kernel")
def test_cuda_backend_matches_torch_backend(monkeypatch):
    inputs = {k: v.cuda() for k, v in make_inputs(2, 4, 8, 16, 300, seed=8).items()}
    grad_out = torch.randn(2, 32, 300, generator=torch.Generator().manual_seed(3), dtype=torch.float64).cuda()
    y_cuda, g_cuda = run_with_grads(selective_scan, inputs, torch.float32, grad_out, backend="cuda")
    y_torch, g_torch = run_with_grads(selective_scan, inputs, torch.float32, grad_out, backend="torch")
    assert y_cuda.is_cuda and rel_err(y_cuda, y_torch) <= 1e-4
    for name in NAMES:
        assert rel_err(g_cuda[name], g_torch[name]) <= 1e-3, name
    # "auto" on CUDA tensors uses the kernel, never the torch backend's Function
    monkeypatch.setattr(scan_module._ChunkedSelectiveScan, "apply", lambda *a: pytest.fail("torch backend used"))
    y_auto = selective_scan(**{k: v.float() for k, v in inputs.items()})
    assert rel_err(y_auto, y_cuda) <= 1e-6


def test_default_chunk_size_targets_two_mib_buffers():
    assert default_chunk_size(8, 4 * 128, 16) == 8  # CDFINet stage 1: 2**19 // 65536
    assert default_chunk_size(8, 4 * 96, 16) == 10  # MedMamba-T stage 1: 2**19 // 49152
    assert default_chunk_size(8, 4 * 48, 16) == 21
    assert default_chunk_size(64, 4 * 768, 16) == 4  # clamped below
    assert default_chunk_size(1, 4, 4) == 64  # clamped above


def test_selective_scan_flops_hand_count():
    # 9 MACs per (batch, step, channel, state) element + one per (batch, channel, step) for the D skip
    assert selective_scan_flops(2, 3, 4, 5) == 9 * 2 * 3 * 4 * 5 + 2 * 4 * 3 == 1104
    assert selective_scan_flops(2, 3, 4, 5, with_D=False) == 1080
    # MedMamba-T stage 1: batch 1, 56x56 tokens, K*D = 4*96, N = 16
    assert selective_scan_flops(1, 3136, 384, 16) == 173_408_256 + 1_204_224


def test_metatensor_inputs_scan_and_backpropagate():
    """MONAI engines hand networks MetaTensors; the fast backend must accept them and keep the autograd graph."""
    from monai.data import MetaTensor

    torch.manual_seed(0)
    b, k, d, n, length = 2, 4, 3, 5, 19
    u = MetaTensor(torch.randn(b, k * d, length), meta={"filename_or_obj": "x.png"}).requires_grad_()
    delta = torch.randn(b, k * d, length)
    A = -torch.rand(k * d, n) - 0.1
    B, C = torch.randn(b, k, n, length), torch.randn(b, k, n, length)
    y = selective_scan(u, delta, A, B, C, backend="torch")
    y_ref = selective_scan(u.as_tensor(), delta, A, B, C, backend="reference")
    torch.testing.assert_close(y.as_subclass(torch.Tensor), y_ref, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert u.grad is not None and torch.isfinite(u.grad).all()
