#!/usr/bin/env python
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
"""Time and peak memory of the selective-scan backends at the stage-1 shapes of CDFINet and MedMamba-T.

Scan shapes (as in monai_fusion.networks.ops.selective_scan): u/delta (B, K*D, L), A (K*D, N), B/C (B, K, N, L):
    cdfinet        B=8, K=4, D=128, N=16, L=784   (28x28 tokens)
    medmamba_t     B=8, K=4, D=96,  N=16, L=3136  (56x56 tokens, d_inner of MedMamba-T stage 1)
    medmamba_t_d48 B=8, K=4, D=48,  N=16, L=3136  (the same with D = 48)

For every shape and backend it reports "forward" (inference, under ``torch.no_grad()``) and "train" (forward with
autograd, then backward of ``y.sum()``): the median (and fastest) wall time over ``--repeats`` runs and the peak extra
memory. On a machine shared with other jobs the fastest run is the better estimate of the backends' own cost.

Memory method. CPU: each (shape, backend, mode) runs in a fresh Python subprocess that builds the inputs, warms the
backend up on a tiny problem, then reads ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the process's resident-set
high-water mark) before and after the measured runs; the reported figure is the increase, i.e. the largest extra
resident memory the scan needed (work buffers, autograd graph, outputs and gradients), with nothing else in the
process to blur it. CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before the runs. Workers load
the scan module from its file so that their start-up does not import MONAI.

``--compare``: the fused CPU kernel (``backend="cpu"``, selective_scan_cpu.c) against the torch backend, in one
process: forward + backward of ``y.sum()`` at each shape and at each of ``--compare-threads`` (default 2 and 1),
medians of ``--rounds`` interleaved rounds (the order of the two backends alternates between rounds), the ratio
torch / fused, and the kernel's lower bound: the time the same threads take to evaluate the kernel's exps (one per
state element per step in forward, one more in backward's recomputation) in a tight loop of the kernel's own
vectorised exp, measured in the same rounds. It also reports the kernel's one-time build cost and its load cost from
the cache, each in a fresh subprocess (the build into a temporary cache directory). The 1-minute load average is
printed before and after: on a shared machine, rerun when it is low.

``--train-step``: a whole CDFINet training step (forward, cross-entropy, backward, AdamW) with the fused kernel and
with the torch backend (two copies of one model), interleaved in one process. ``--train-batch`` and
``--train-size`` set the batch (default 8) and image side (default 224).

This is a benchmark: it prints and never asserts. Usage::

    python scripts/benchmark_scan.py                        # CPU, 2 threads, 3 repeats (reference: 1), all shapes
    python scripts/benchmark_scan.py --shapes cdfinet --repeats 5 --chunk-sizes 8 16 32
    python scripts/benchmark_scan.py --device cuda          # adds mamba-ssm's kernel when it is installed
    python scripts/benchmark_scan.py --compare --shapes cdfinet medmamba_t --rounds 5
    python scripts/benchmark_scan.py --train-step --rounds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType

import torch

SCAN_FILE = Path(__file__).resolve().parents[1] / "monai_fusion" / "networks" / "ops" / "selective_scan.py"

SHAPES: dict[str, dict[str, int]] = {
    "cdfinet": {"batch": 8, "groups": 4, "width": 128, "state": 16, "length": 784},
    "medmamba_t": {"batch": 8, "groups": 4, "width": 96, "state": 16, "length": 3136},
    "medmamba_t_d48": {"batch": 8, "groups": 4, "width": 48, "state": 16, "length": 3136},
}


def load_scan_module() -> ModuleType:
    """The selective-scan module, loaded from its file (it only needs torch)."""
    spec = importlib.util.spec_from_file_location("monai_fusion_selective_scan_bench", SCAN_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_inputs(shape: dict[str, int], device: str, seed: int = 0) -> list[torch.Tensor]:
    """fp32 inputs like an initialised SS2D: small softplus step sizes, S4D-real A."""
    g = torch.Generator().manual_seed(seed)
    b, k, d, n, length = (shape[key] for key in ("batch", "groups", "width", "state", "length"))
    u = torch.randn(b, k * d, length, generator=g)
    delta = 0.5 * torch.randn(b, k * d, length, generator=g)
    A = -torch.arange(1, n + 1, dtype=torch.float32).repeat(k * d, 1)
    B = torch.randn(b, k, n, length, generator=g)
    C = torch.randn(b, k, n, length, generator=g)
    D = torch.ones(k * d)
    delta_bias = torch.full((k * d,), -4.0)  # softplus(-4) ~ 0.018, inside the initial [1e-3, 1e-1] range
    return [t.to(device) for t in (u, delta, A, B, C, D, delta_bias)]


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux, bytes on macOS


def worker(cfg: dict) -> dict:
    """Runs in a fresh subprocess: times one backend at one shape in one mode and measures its peak extra memory."""
    torch.set_num_threads(cfg["threads"])
    scan = load_scan_module()
    device, backend, chunk, train = cfg["device"], cfg["backend"], cfg["chunk_size"], cfg["mode"] == "train"

    def call(*args: torch.Tensor) -> torch.Tensor:
        if backend == "torch":
            return scan.selective_scan_torch(*args, delta_softplus=True, chunk_size=chunk)
        return scan.selective_scan(*args, delta_softplus=True, backend=backend)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    tiny = [
        t.requires_grad_() for t in make_inputs({"batch": 1, "groups": 2, "width": 4, "state": 4, "length": 20}, device)
    ]
    call(*tiny).sum().backward()  # warm-up: lazy initialisation must not count as the scan's memory
    inputs = [t.requires_grad_(train) for t in make_inputs(SHAPES[cfg["shape"]], device)]
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _peak_rss_bytes()
    times = []
    for _ in range(cfg["repeats"]):
        start = time.perf_counter()
        if train:
            call(*inputs).sum().backward()
        else:
            with torch.no_grad():
                call(*inputs)
        sync()
        times.append(time.perf_counter() - start)
        for t in inputs:
            t.grad = None
    peak = torch.cuda.max_memory_allocated() - base if device == "cuda" else _peak_rss_bytes() - base
    return {"seconds": statistics.median(times), "min_seconds": min(times), "peak_bytes": peak}


def run_worker(cfg: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["worker failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load_average() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def _time_train(call, inputs: list[torch.Tensor]) -> tuple[float, float]:
    """(forward seconds, forward + backward seconds) of one training call."""
    start = time.perf_counter()
    y = call(*inputs)
    mid = time.perf_counter()
    y.sum().backward()
    end = time.perf_counter()
    for t in inputs:
        t.grad = None
    return mid - start, end - start


def _exp_seconds(lib, lanes: int, threads: int) -> float:
    """Wall time for ``threads`` threads to evaluate ``lanes`` exps in all with the kernel's vectorised exp."""
    per_thread = max(8, lanes // 16 // threads)
    workers = [threading.Thread(target=lib.ss_exp_loop, args=(per_thread,)) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:  # ctypes releases the GIL, so the loops run in parallel
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


_BUILD_PROBE = """
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("probe_scan", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
native = module._load_cpu_scan()
print(json.dumps({"ok": native.lib is not None, "reason": native.reason, "built": native.built,
                  "build_s": native.build_seconds, "load_s": native.load_seconds,
                  "command": " ".join(native.command[:-3])}))
"""


def measure_build() -> list[dict]:
    """The kernel's build (empty cache) and load (warm cache) cost, each in a fresh process."""
    results = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MONAI_FUSION_CACHE_DIR": cache}
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-c", _BUILD_PROBE, str(SCAN_FILE)], env=env, capture_output=True, text=True
            )
            if proc.returncode != 0:
                results.append({"ok": False, "reason": (proc.stderr.strip().splitlines() or ["failed"])[-1]})
            else:
                results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


def compare(args: argparse.Namespace) -> None:
    """Fused CPU kernel vs torch backend, fwd+bwd, interleaved rounds, with the exp lower bound (see --compare)."""
    scan = load_scan_module()
    print(hardware_line("cpu", torch.get_num_threads()))
    print(f"start: {_load_average()}")
    build, load = measure_build()
    if not build.get("ok"):
        print(f"fused CPU kernel unavailable: {build.get('reason')}")
        return
    print(
        f"fused kernel: first use builds it in {build['build_s']:.2f} s (+{build['load_s']:.3f} s to hash and load) "
        f"with `{build['command']}`; later processes load it from the cache in {load['load_s'] * 1e3:.1f} ms"
    )
    lib = scan._load_cpu_scan().lib
    print(
        f"fwd+bwd of y.sum(); median (min) of {args.rounds} interleaved rounds; lower bound = the kernel's exps "
        "(2 per state element per step) in a tight loop on the same threads"
    )
    print(
        f"{'shape':<12}{'threads':>8}{'torch ms':>18}{'fused ms':>18}{'torch/fused':>13}{'fused fwd ms':>14}"
        f"{'bound ms':>10}{'fused/bound':>13}"
    )
    for name in args.shapes:
        shape = SHAPES[name]
        inputs = [t.requires_grad_() for t in make_inputs(shape, "cpu")]
        lanes = 2 * shape["batch"] * shape["groups"] * shape["width"] * shape["state"] * shape["length"]
        calls = {
            "torch": lambda *a: scan.selective_scan(*a, backend="torch"),
            "fused": lambda *a: scan.selective_scan(*a, backend="cpu"),
        }
        for threads in args.compare_threads:
            torch.set_num_threads(threads)
            for call in calls.values():  # warm-up
                _time_train(call, inputs)
            times: dict[str, list[tuple[float, float]]] = {key: [] for key in calls}
            bound = []
            for r in range(args.rounds):
                order = list(calls) if r % 2 == 0 else list(calls)[::-1]
                for key in order:
                    times[key].append(_time_train(calls[key], inputs))
                bound.append(_exp_seconds(lib, lanes, threads))
            med = {key: statistics.median(t[1] for t in v) for key, v in times.items()}
            low = {key: min(t[1] for t in v) for key, v in times.items()}
            fwd = statistics.median(t[0] for t in times["fused"])
            b = statistics.median(bound)
            print(
                f"{name:<12}{threads:>8}{med['torch'] * 1e3:>10.1f} ({low['torch'] * 1e3:>5.1f})"
                f"{med['fused'] * 1e3:>10.1f} ({low['fused'] * 1e3:>5.1f}){med['torch'] / med['fused']:>12.2f}x"
                f"{fwd * 1e3:>14.1f}{b * 1e3:>10.1f}{med['fused'] / b:>12.2f}x",
                flush=True,
            )
    print(f"end: {_load_average()}")


def train_step(args: argparse.Namespace) -> None:
    """A whole CDFINet training step with the fused kernel and with the torch backend, interleaved (--train-step)."""
    sys.path.insert(0, str(SCAN_FILE.parents[3]))
    from monai_fusion.networks.nets import CDFINet

    torch.set_num_threads(args.threads)
    print(hardware_line("cpu", args.threads))
    print(f"start: {_load_average()}")
    torch.manual_seed(0)
    models = {"torch": CDFINet(scan_backend="torch"), "fused": CDFINet(scan_backend="cpu")}
    models["fused"].load_state_dict(models["torch"].state_dict())
    optimizers = {key: torch.optim.AdamW(m.parameters(), lr=1e-4) for key, m in models.items()}
    size, batch = args.train_size, args.train_batch
    x = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 8, (batch,))

    def step(key: str) -> float:
        start = time.perf_counter()
        optimizers[key].zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(models[key](x), labels)
        loss.backward()
        optimizers[key].step()
        return time.perf_counter() - start

    for key in models:  # warm-up
        step(key)
    times: dict[str, list[float]] = {key: [] for key in models}
    for r in range(args.rounds):
        for key in list(models) if r % 2 == 0 else list(models)[::-1]:
            times[key].append(step(key))
    med = {key: statistics.median(v) for key, v in times.items()}
    print(
        f"CDFINet training step, batch {batch}, {size}x{size}, {args.threads} thread(s), median of {args.rounds} "
        f"interleaved rounds: torch backend {med['torch']:.2f} s ({batch / med['torch']:.2f} img/s), fused "
        f"{med['fused']:.2f} s ({batch / med['fused']:.2f} img/s): {med['torch'] / med['fused']:.2f}x faster"
    )
    print(f"end: {_load_average()}")


def hardware_line(device: str, threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    line = (
        f"CPU: {cpu}, {os.cpu_count()} logical cores, {torch.backends.cpu.get_cpu_capability()}; "
        f"torch {torch.__version__}, {threads} intra-op thread(s); Python {platform.python_version()}"
    )
    if device == "cuda":
        line += f"; GPU: {torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every run (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the median is shown")
    parser.add_argument(
        "--reference-repeats", type=int, default=1, help="timed runs of the slow reference loop (default 1)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--shapes", nargs="+", choices=tuple(SHAPES), default=list(SHAPES))
    parser.add_argument(
        "--chunk-sizes",
        nargs="+",
        type=int,
        default=None,
        help="torch-backend chunk lengths T (default: default_chunk_size)",
    )
    parser.add_argument("--compare", action="store_true", help="fused CPU kernel vs torch backend (see above)")
    parser.add_argument("--compare-threads", nargs="+", type=int, default=[2, 1], help="thread counts for --compare")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of --compare / --train-step")
    parser.add_argument("--train-step", action="store_true", help="CDFINet training step, fused vs torch backend")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=224)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.compare:
        compare(args)
        return
    if args.train_step:
        train_step(args)
        return

    scan = load_scan_module()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device")
    chunks = args.chunk_sizes or [None]
    backends = [("reference", None)] + [("torch", c) for c in chunks]
    if args.device == "cpu":
        if scan.is_cpu_scan_available():
            backends.append(("cpu", None))
        else:
            print(f"cpu (fused) backend skipped: {scan._load_cpu_scan().reason}")
    if args.device == "cuda":
        if scan.is_cuda_scan_available():
            backends.append(("cuda", None))
        else:
            try:
                scan.selective_scan(*make_inputs(SHAPES["cdfinet"] | {"length": 4}, "cuda"), backend="cuda")
            except RuntimeError as err:
                print(f"cuda backend skipped: {err}")
    print(hardware_line(args.device, args.threads))
    method = "subprocess ru_maxrss increase" if args.device == "cpu" else "cuda max_memory_allocated increase"
    print(
        f"device {args.device}; time: median of {args.repeats} run(s) ({args.reference_repeats} for the reference); "
        f"memory: peak extra, {method}"
    )
    header = (
        f"{'shape':<16}{'backend':<12}{'forward s (min)':>18}{'forward MB':>12}{'train s (min)':>18}{'train MB':>12}"
    )
    for name in args.shapes:
        shape = SHAPES[name]
        print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in shape.items()))
        print(header)
        rows = {}
        for backend, chunk in backends:
            if backend != "torch":
                label = backend
            else:
                auto = scan.default_chunk_size(shape["batch"], shape["groups"] * shape["width"], shape["state"])
                label = f"torch T={chunk or auto}"
            res = rows[label] = {}
            for mode in ("forward", "train"):
                cfg = {
                    "shape": name,
                    "backend": backend,
                    "chunk_size": chunk,
                    "mode": mode,
                    "device": args.device,
                    "threads": args.threads,
                    "repeats": args.reference_repeats if backend == "reference" else args.repeats,
                }
                res[mode] = run_worker(cfg)
            errors = [r["error"] for r in res.values() if "error" in r]
            if errors:
                print(f"{name:<16}{label:<12} failed: {errors[0]}")
                continue
            cells = [
                f"{r['seconds']:>10.3f} ({r['min_seconds']:.3f}){r['peak_bytes'] / 2**20:>12.1f}"
                for r in (res["forward"], res["train"])
            ]
            print(f"{name:<16}{label:<12}" + "".join(cells), flush=True)
        ref = rows.get("reference", {})
        for label, res in rows.items():
            if label == "reference" or any("error" in r for r in (*res.values(), *ref.values())):
                continue
            parts = []
            for mode in ("forward", "train"):
                speed = ref[mode]["seconds"] / res[mode]["seconds"]
                mem = res[mode]["peak_bytes"] / max(ref[mode]["peak_bytes"], 1)
                parts.append(f"{mode} {speed:.1f}x faster with {mem:.3f} of its peak memory")
            print(f"  {label} vs reference: " + "; ".join(parts))


if __name__ == "__main__":
    main()
