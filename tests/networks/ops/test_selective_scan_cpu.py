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
"""Tests of the fused CPU selective scan (``backend="cpu"``, selective_scan_cpu.c) and of its build and fallback.

Accuracy: max|a - b| / max|b| against the sequential reference in float64 on fp32-representable inputs, for the output
and every gradient, at the shapes of test_selective_scan.py's torch-backend cases. Where a C compiler exists the kernel
must build: a broken build cannot turn these tests into skips. ``CC=/nonexistent pytest ...`` runs the suite as on a
machine without a compiler (the kernel's tests skip, the fallback tests run).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
import math
from pathlib import Path

import pytest
import torch

from monai_fusion.networks.ops.native_build import find_c_compiler, load_native_library
from monai_fusion.networks.ops.selective_scan import (
    SCAN_BACKEND_ENV,
    is_cpu_scan_available,
    selective_scan,
    selective_scan_reference,
)
from tests.networks.ops.test_selective_scan import NAMES, make_inputs, rel_err, run_with_grads

scan_module = importlib.import_module("monai_fusion.networks.ops.selective_scan")

NO_COMPILER = "no C compiler (cc, gcc, clang or $CC): the fused CPU kernel cannot be built here"
needs_kernel = pytest.mark.skipif(find_c_compiler() is None, reason=NO_COMPILER)


@pytest.fixture
def fresh_loader():
    """Forget the process's loaded kernel before and after a test that changes how it is found."""
    scan_module._load_cpu_scan.cache_clear()
    yield
    scan_module._load_cpu_scan.cache_clear()


def test_kernel_builds_wherever_a_compiler_exists():
    if find_c_compiler() is None:
        pytest.skip(NO_COMPILER)
    native = scan_module._load_cpu_scan()
    assert native.lib is not None, f"the fused CPU scan did not build although a compiler exists: {native.reason}"
    assert is_cpu_scan_available()


@needs_kernel
def test_kernel_exp2_accuracy_and_limits():
    """The kernel's vectorised 2^x: relative error < 3e-7 on [-126, 127]; 0 below, inf above, NaN stays NaN."""
    lib = scan_module._load_cpu_scan().lib
    x = torch.cat([torch.linspace(-126, 127, 200_001), torch.tensor([-126.5, -150.0, -1e30, 128.5, 1e30, math.nan])])
    y = torch.empty_like(x)
    lib.ss_exp2_array(ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(y.data_ptr()), ctypes.c_long(x.numel()))
    exact = torch.exp2(x[:-6].double())
    assert ((y[:-6].double() - exact).abs() / exact).max() < 3e-7
    assert y[-6:-3].tolist() == [0.0, 0.0, 0.0]
    assert y[-3:-1].tolist() == [math.inf, math.inf] and math.isnan(y[-1])


CASES = [
    # (length, groups, width, state, with_D, with_bias, softplus): test_selective_scan.py's cases, plus N = 16 and
    # widths that fill one, several and partial 16-lane channel blocks
    (1, 1, 3, 5, True, True, True),
    (1, 4, 3, 5, False, False, False),
    (37, 4, 3, 5, True, True, True),  # odd L, one partial tile of the kernel's 64 steps
    (37, 1, 3, 5, False, False, True),
    (37, 4, 3, 5, True, False, False),
    (16, 4, 3, 5, True, True, True),
    (33, 2, 3, 5, False, True, True),
    (10, 4, 3, 5, True, True, False),
    (3136, 4, 1, 4, True, True, True),  # MedMamba stage-1 length, tiny channels
    (70, 2, 35, 16, True, True, True),  # three channel blocks, the last one partial; a full tile and a partial one
    (150, 1, 16, 16, False, True, True),  # exactly one block; three tiles, so two checkpoint boundaries
]


@needs_kernel
@pytest.mark.parametrize("length,groups,width,state,with_D,with_bias,softplus", CASES)
def test_fused_backend_matches_reference(length, groups, width, state, with_D, with_bias, softplus):
    batch = 1 if length > 1000 else 2
    inputs = make_inputs(batch, groups, width, state, length, softplus=softplus, seed=length + width)
    if not with_D:
        inputs["D"] = None
    if not with_bias:
        inputs["delta_bias"] = None
    g = torch.Generator().manual_seed(1)
    grad_out = torch.randn(batch, groups * width, length, generator=g, dtype=torch.float64)
    y_ref, g_ref = run_with_grads(selective_scan_reference, inputs, torch.float64, grad_out, delta_softplus=softplus)
    y, grads = run_with_grads(selective_scan, inputs, torch.float32, grad_out, delta_softplus=softplus, backend="cpu")
    assert y.dtype == torch.float32 and y.shape == (batch, groups * width, length)
    assert rel_err(y, y_ref) <= 1e-5
    assert set(grads) == set(g_ref)
    for name in g_ref:
        assert grads[name].shape == inputs[name].shape and grads[name].dtype == torch.float32, name
        if g_ref[name].abs().max() == 0:  # dA at L = 1: h_{-1} = 0, so A has no influence
            assert grads[name].abs().max() == 0, name
        else:
            assert rel_err(grads[name], g_ref[name]) <= 1e-5, name


@needs_kernel
def test_thread_counts_and_task_splits_agree(monkeypatch):
    """With few (batch, direction) groups the kernel splits a group's channels over tasks and adds partial dB/dC."""
    inputs = make_inputs(1, 2, 40, 16, 45, seed=11)  # 3 channel blocks per group
    grad_out = torch.randn(1, 80, 45, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _, g_ref = run_with_grads(selective_scan_reference, inputs, torch.float64, grad_out)
    calls = []
    lib = scan_module._load_cpu_scan().lib
    real_backward = lib.ss_backward

    class Spy:
        def __getattr__(self, name):
            return getattr(lib, name)

        def ss_backward(self, *args):
            calls.append({"splits": args[14], "threads": args[15]})
            return real_backward(*args)

    native = scan_module._load_cpu_scan()
    monkeypatch.setattr(scan_module, "_load_cpu_scan", lambda: type(native)(Spy()))
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            y, grads = run_with_grads(selective_scan, inputs, torch.float32, grad_out, backend="cpu")
            results.append((y, grads))
    finally:
        torch.set_num_threads(threads)
    assert calls == [{"splits": 1, "threads": 1}, {"splits": 3, "threads": 3}]  # follows torch.get_num_threads()
    (y1, g1), (y3, g3) = results
    assert torch.equal(y1, y3)  # forward work is split by channels only: same arithmetic, bit for bit
    for name in NAMES:
        assert rel_err(g3[name], g_ref[name]) <= 1e-5, name
        assert rel_err(g1[name], g3[name]) <= 1e-6, name


@needs_kernel
def test_fused_backend_keeps_dtypes_and_accepts_views():
    """bf16 in, bf16 out (fp32 inside); B/C as non-contiguous views of one projection, as SS2D passes them."""
    x32 = {k: v.float() for k, v in make_inputs(2, 4, 3, 5, 21, seed=5).items()}
    packed = torch.cat([x32["B"], x32["C"]], dim=2)
    b_view, c_view = torch.split(packed, [5, 5], dim=2)
    u = x32["u"].clone().requires_grad_()
    y = selective_scan(u, x32["delta"], x32["A"], b_view, c_view, x32["D"], x32["delta_bias"], backend="cpu")
    assert not b_view.is_contiguous()
    assert rel_err(y, selective_scan_reference(**x32)) <= 1e-5
    y.sum().backward()
    assert u.grad is not None and u.grad.shape == u.shape
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # the kernel's fp32 buffers must not follow the default dtype
    try:
        y_ref, g_ref = run_with_grads(
            selective_scan_reference, x32, torch.float64, torch.ones_like(y, dtype=torch.float64)
        )
        y, grads = run_with_grads(selective_scan, x32, torch.float32, torch.ones_like(y), backend="cpu")
    finally:
        torch.set_default_dtype(default)
    assert rel_err(y, y_ref) <= 1e-5 and all(rel_err(grads[k], g_ref[k]) <= 1e-5 for k in NAMES)
    x16 = {k: v.bfloat16().requires_grad_() for k, v in x32.items()}
    y16 = selective_scan(**x16, backend="cpu")
    assert y16.dtype == torch.bfloat16
    y16.float().sum().backward()
    assert all(x16[k].grad.dtype == torch.bfloat16 for k in NAMES)


@needs_kernel
def test_auto_uses_fused_kernel_for_cpu_fp32_only(monkeypatch):
    x32 = {k: v.float() for k, v in make_inputs(2, 4, 3, 5, 20, seed=4).items()}
    monkeypatch.delenv(SCAN_BACKEND_ENV, raising=False)
    y_cpu = selective_scan(**x32, backend="cpu")
    assert torch.equal(selective_scan(**x32), y_cpu)  # "auto" on fp32 CPU tensors is the fused kernel
    assert not torch.equal(y_cpu, selective_scan(**x32, backend="torch"))  # a different computation
    assert rel_err(y_cpu, selective_scan(**x32, backend="torch")) <= 1e-5
    monkeypatch.setattr(scan_module._FusedCpuSelectiveScan, "apply", lambda *a: pytest.fail("fused kernel used"))
    x64 = make_inputs(2, 4, 3, 5, 20, seed=4)
    assert selective_scan(**x64).dtype == torch.float64  # fp64 stays on the torch backend, in fp64
    with pytest.raises(RuntimeError, match="fp64"):
        selective_scan(**x64, backend="cpu")


@needs_kernel
def test_environment_variable_replaces_auto(monkeypatch):
    x32 = {k: v.float() for k, v in make_inputs(2, 4, 3, 5, 20, seed=4).items()}
    monkeypatch.setattr(scan_module._FusedCpuSelectiveScan, "apply", lambda *a: pytest.fail("fused kernel used"))
    monkeypatch.setenv(SCAN_BACKEND_ENV, "torch")
    assert torch.equal(selective_scan(**x32), selective_scan(**x32, backend="torch"))
    monkeypatch.setenv(SCAN_BACKEND_ENV, "fused")
    with pytest.raises(ValueError, match=SCAN_BACKEND_ENV):
        selective_scan(**x32)


@needs_kernel
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore:.*is deprecated.*")
def test_tracing_and_scripting_keep_the_plain_tensor_path():
    """The graph holds the plain-tensor scan, not the kernel (trace's own check re-runs the module eagerly)."""
    from tests.networks.ops.test_selective_scan import _ScanModule

    inputs = make_inputs(2, 4, 3, 5, 23, seed=7)
    args = tuple(inputs[k].float() for k in NAMES)
    y_ref = selective_scan_reference(**inputs)
    for backend in ("auto", "cpu"):
        traced = torch.jit.trace(_ScanModule(backend), args)
        assert "prim::PythonOp" not in str(traced.inlined_graph)
        assert rel_err(traced(*args), y_ref) <= 1e-5
    assert rel_err(torch.jit.script(_ScanModule("cpu"))(*args), y_ref) <= 1e-5


@needs_kernel
def test_fused_backend_without_autograd_and_on_empty_inputs():
    x = {k: v.float() for k, v in make_inputs(2, 4, 3, 5, 20, seed=9).items()}
    y_ref = selective_scan_reference(**x)
    with torch.inference_mode():
        assert rel_err(selective_scan(**x, backend="cpu"), y_ref) <= 1e-5
    with torch.no_grad():
        y = selective_scan(**{**x, "u": x["u"].requires_grad_()}, backend="cpu")
    assert not y.requires_grad
    empty = {k: (v[..., :0] if k in ("u", "delta", "B", "C") else v) for k, v in x.items()}
    assert selective_scan(**empty, backend="cpu").shape == (2, 12, 0)


@needs_kernel
def test_fused_backend_rejects_tensors_off_the_cpu():
    x = {k: v.float().to("meta") for k, v in make_inputs(1, 2, 2, 3, 5).items()}
    with pytest.raises(RuntimeError, match="CPU tensors"):
        selective_scan(**x, backend="cpu")


def test_without_compiler_auto_falls_back_to_torch_with_one_warning(monkeypatch, tmp_path, caplog, fresh_loader):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("MONAI_FUSION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(SCAN_BACKEND_ENV, raising=False)
    x32 = {k: v.float() for k, v in make_inputs(2, 4, 3, 5, 20, seed=4).items()}
    with caplog.at_level(logging.WARNING, logger=scan_module.__name__):
        assert not is_cpu_scan_available()
        y_auto = selective_scan(**x32)
        selective_scan(**x32)
    assert torch.equal(y_auto, selective_scan(**x32, backend="torch"))
    warnings = [r.getMessage() for r in caplog.records if "fused CPU selective scan is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "no-such-cc" in warnings[0] and "gcc" in warnings[0]
    with pytest.raises(RuntimeError, match="C compiler"):
        selective_scan(**x32, backend="cpu")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@needs_kernel
def test_build_is_cached_per_source_and_atomic(monkeypatch, tmp_path):
    monkeypatch.setenv("MONAI_FUSION_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    first = load_native_library(source, "answer")
    assert first.lib is not None and first.built and first.build_seconds > 0, first.reason
    assert first.lib.answer() == 42
    second = load_native_library(source, "answer")
    assert not second.built and second.build_seconds == 0 and second.path == first.path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.path.name]  # no temporary file left behind
    source.write_text("int answer(void) { return 43; }\n")  # an edited source gets its own library
    third = load_native_library(source, "answer")
    assert third.built and third.path != first.path and third.lib.answer() == 43


@needs_kernel
def test_concurrent_builds_leave_one_complete_library(monkeypatch, tmp_path):
    """Processes (here threads) that build at the same time each rename a complete file into place."""
    import threading

    monkeypatch.setenv("MONAI_FUSION_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 7; }\n")
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_native_library(source, "answer"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r.lib is not None and r.lib.answer() == 7 for r in results)
    assert len({r.path for r in results}) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [results[0].path.name]


@needs_kernel
def test_failed_build_reports_the_compiler_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MONAI_FUSION_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "broken.c"
    source.write_text("int broken(void) { return undefined_name; }\n")
    native = load_native_library(source, "broken")
    assert native.lib is None and "undefined_name" in native.reason and str(source) in native.reason
    assert not any((tmp_path / "cache").iterdir())


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    from monai_fusion.networks.ops.native_build import native_cache_dir

    monkeypatch.delenv("MONAI_FUSION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert native_cache_dir() == tmp_path / "xdg" / "monai_fusion"
    monkeypatch.setenv("MONAI_FUSION_CACHE_DIR", str(tmp_path / "mine"))
    assert native_cache_dir() == tmp_path / "mine"


def test_kernel_source_ships_in_the_package():
    source = Path(scan_module.CPU_SCAN_SOURCE)
    assert source.parent == Path(scan_module.__file__).resolve().parent and source.suffix == ".c"
    text = source.read_text()
    assert "#include <Python.h>" not in text and "torch" not in text.split("*/", 1)[1]  # plain C, no torch headers


def test_importing_the_module_builds_nothing(monkeypatch, tmp_path):
    """No side effects at import: the build happens on the first fused call, not when the module is imported."""
    monkeypatch.setenv("MONAI_FUSION_CACHE_DIR", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("_fresh_selective_scan", scan_module.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)  # outside the package, as scripts/benchmark_scan.py loads it
    assert fresh._load_cpu_scan.cache_info().currsize == 0 and not (tmp_path / "cache").exists()
    assert fresh.load_native_library.__module__ == "_monai_fusion_native_build"


def test_ctypes_argument_types_match_the_c_signatures():
    """ss_forward takes 18 arguments and ss_backward 25 (selective_scan_cpu.c); a mismatch would corrupt memory."""
    if find_c_compiler() is None:
        pytest.skip(NO_COMPILER)
    lib = scan_module._load_cpu_scan().lib
    assert len(lib.ss_forward.argtypes) == 18 and len(lib.ss_backward.argtypes) == 25
    assert lib.ss_forward.restype is ctypes.c_int
