#!/usr/bin/env python
# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Speed and cost of every network variant against MONAI's DenseNet-121 and ResNet-50, in one run on this machine.

For each network: parameters; MACs of one forward pass at batch 1 (``monai_fusion.networks.cost``: convolutions and
matrix products counted by ``FlopCounterMode``, the selective scan analytically); inference latency at batch 1;
inference throughput at ``--batch-size``; training throughput (images/s for forward + backward + AdamW step); peak
extra memory of inference and of training; the share of the forward time spent in the selective scan. Every figure is
also given as a ratio to ResNet-50. See docs/benchmarks.md for the method.

Each (network, phase) is measured in a fresh Python subprocess, so that peak memory is that network's alone (CPU: the
increase of ``ru_maxrss``, the resident-set high-water mark, over the value after the model is built; CUDA:
``torch.cuda.max_memory_allocated`` minus the memory allocated after the model is built). ``--rounds N`` measures
every network N times, in rounds that interleave the networks (the order rotates between rounds), and reports the
median over rounds: on a shared machine the ratios stay meaningful even when the absolute figures drift.

Outputs in ``--output-dir``: ``benchmark_<size>.md`` and ``.csv`` (the table, with the environment in the Markdown
header and in ``benchmark_<size>_env.json``), and with ``--profile`` ``profile_<size>.md``: where each network's
forward and training-step time goes (convolution, matmul/linear, selective scan, normalisation, Haar DWT,
element-wise, copies/layout, optimizer, other). On CUDA also ``gpu_scan_backends_<size>.md`` / ``.csv``: mamba-ssm's
kernel (``scan_backend="cuda"``) against the torch backend (max difference, speed-up) and AMP training throughput.

Usage::

    python scripts/benchmark.py                                  # all networks, 224x224, batch 16, 2 threads
    python scripts/benchmark.py --fast                           # 128x128
    python scripts/benchmark.py --models cdfinet medmamba_tiny resnet50 --rounds 3 --profile
    python scripts/benchmark.py --device cuda --batch-size 32    # on a GPU (adds the backend and AMP columns)

This is a benchmark: it writes tables and never asserts a target.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BASELINE = "resnet50"
EXTRA_MODELS = ("densenet121", "resnet50")
# scan-using networks whose scan backend can be switched (for the CUDA backend comparison)
SCAN_MODELS = ("cdfinet", "medmamba_tiny", "medmamba_small", "medmamba_base")
CATEGORIES = (
    "conv",
    "matmul/linear",
    "selective scan",
    "norm",
    "Haar DWT",
    "elementwise",
    "copy/layout",
    "optimizer",
    "other",
)
# (key, header, format) of the main table; ratios are figure / ResNet-50's figure
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("params_m", "params (M)", "{:.2f}"),
    ("gmacs", "GMACs (bs 1)", "{:.2f}"),
    ("scan_gmacs", "of which scan", "{:.2f}"),
    ("latency_ms", "latency bs 1 (ms)", "{:.1f}"),
    ("infer_ips", "inference img/s", "{:.1f}"),
    ("train_ips", "training img/s", "{:.2f}"),
    ("infer_peak_mb", "inference peak MB", "{:.0f}"),
    ("train_peak_mb", "training peak MB", "{:.0f}"),
    ("scan_pct", "scan % of forward", "{:.1f}"),
)
CUDA_COLUMNS: tuple[tuple[str, str, str], ...] = (("train_amp_ips", "training img/s (AMP)", "{:.2f}"),)


def model_names() -> list[str]:
    """Every network variant of monai_fusion, then the MONAI baselines."""
    from monai_fusion.networks.nets import NETWORK_VARIANTS

    return list(NETWORK_VARIANTS) + list(EXTRA_MODELS)


def build_model(name: str, scan_backend: str | None = None) -> Any:
    """A network by benchmark name: 7 classes (HAM10000) for classifiers, 1 channel for the segmentation network.

    ResNet-50 is MONAI's ``resnet50`` in its 2-D ImageNet layout (``conv1_t_stride=2``: 7x7 stride-2 stem, about
    4.1 GMACs at 224x224); MONAI's default stride 1 would quadruple its cost. ``scan_backend`` applies to the networks
    with a selective scan (CDFINet, MedMamba) and is ignored otherwise.
    """
    from monai.networks.nets import DenseNet121, resnet50

    from monai_fusion.networks.nets import NETWORK_VARIANTS

    if name == "resnet50":
        return resnet50(spatial_dims=2, n_input_channels=3, num_classes=7, conv1_t_stride=2)
    if name == "densenet121":
        return DenseNet121(spatial_dims=2, in_channels=3, out_channels=7)
    if name not in NETWORK_VARIANTS:
        raise ValueError(f"unknown model {name!r}; choose from {model_names()}.")
    kwargs: dict[str, Any] = {"out_channels": 1 if name == "mfsf2net_seg" else 7}
    if scan_backend is not None and name in SCAN_MODELS:
        kwargs["scan_backend"] = scan_backend
    return NETWORK_VARIANTS[name](**kwargs)


# ---------------------------------------------------------------------------------------------------------- worker


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux, bytes on macOS


def _loss(out: Any, torch: Any) -> Any:
    """Cross-entropy against random labels for logits, BCE against a random mask for maps (summed over a list)."""
    outs = out if isinstance(out, (list, tuple)) else [out]
    total = 0.0
    for o in outs:
        o = o.float()
        if o.dim() == 2:
            target = torch.randint(0, o.shape[1], (o.shape[0],), device=o.device)
            total = total + torch.nn.functional.cross_entropy(o, target)
        else:
            target = (torch.rand_like(o) > 0.5).float()
            total = total + torch.nn.functional.binary_cross_entropy_with_logits(o, target)
    return total


class _ScanTimer:
    """Wraps the selective scan called by SS2DCore: accumulates its wall time and marks it for the profiler."""

    def __init__(self, torch: Any, sync: Callable[[], None], timing: bool) -> None:
        from monai_fusion.networks.blocks import ss2d

        self.module, self.original, self.torch, self.sync, self.timing = ss2d, ss2d.selective_scan, torch, sync, timing
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.timing:
            self.sync()
        start = time.perf_counter()
        with self.torch.profiler.record_function("monai_fusion::selective_scan"):
            out = self.original(*args, **kwargs)
        if self.timing:
            self.sync()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out

    @contextlib.contextmanager
    def installed(self) -> Iterator[_ScanTimer]:
        self.module.selective_scan = self
        try:
            yield self
        finally:
            self.module.selective_scan = self.original


@contextlib.contextmanager
def _dwt_marked(torch: Any) -> Iterator[None]:
    """Marks the Haar DWT / IDWT for the profiler (record_function around the functions the layers call)."""
    from monai_fusion.networks.ops import haar_dwt

    originals = {"haar_dwt2d": haar_dwt.haar_dwt2d, "haar_idwt2d": haar_dwt.haar_idwt2d}

    def marked(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with torch.profiler.record_function("monai_fusion::haar_dwt"):
                return fn(*args, **kwargs)

        return wrapper

    for name, fn in originals.items():
        setattr(haar_dwt, name, marked(fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(haar_dwt, name, fn)


_MARKERS = {
    "monai_fusion::selective_scan": "selective scan",
    "_ChunkedSelectiveScanBackward": "selective scan",
    "monai_fusion::haar_dwt": "Haar DWT",
}
_MATMUL_OPS = {"mm", "bmm", "addmm", "baddbmm", "matmul", "linear", "einsum", "addbmm", "dot", "vdot", "mv", "addmv"}
_NORM_OPS = {"batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "native_batch_norm"}
_COPY_WORDS = (
    "copy",
    "contiguous",
    "clone",
    "cat",
    "stack",
    "flip",
    "roll",
    "pad",
    "repeat",
    "index",
    "gather",
    "scatter",
    "pixel_shuffle",
    "pixel_unshuffle",
    "unfold",
    "col2im",
    "im2col",
    "permute",
    "transpose",
    "reshape",
    "view",
    "expand",
    "slice",
    "select",
    "narrow",
    "split",
    "chunk",
    "unbind",
    "empty",
    "zeros",
    "fill",
    "to",
)


def op_category(name: str) -> str:
    """Category of one profiler event by its name (used when no marked region encloses it)."""
    lowered = name.lower()
    if lowered.startswith("optimizer."):
        return "optimizer"
    base = lowered.split("::")[-1].split(": ")[-1]
    base = re.sub(r"(backward\d*|_backward|_out|_)$", "", base).strip("_")
    if "conv" in base or "mkldnn_convolution" in base:
        return "conv"
    if base in _MATMUL_OPS or base.endswith("mm") or "attention" in base:
        return "matmul/linear"
    if base in _NORM_OPS or base.endswith("norm") or "batch_norm" in base or "layer_norm" in base:
        return "norm"
    words = re.split(r"[_\s]+", base)
    if any(w in _COPY_WORDS for w in words) or base in _COPY_WORDS:
        return "copy/layout"
    if lowered.startswith("aten::") or "backward" in lowered:
        return "elementwise"
    return "other"


def categorise(events: Any, use_device_time: bool) -> dict[str, float]:
    """Self time (ms) per category of a profiler's events.

    An event inside a marked region (the selective scan, the Haar DWT, the optimizer step) belongs to that region's
    category, and so do the backward nodes of the forward ops recorded inside it (matched by autograd sequence number;
    the torch scan backend's own backward node is ``_ChunkedSelectiveScanBackward``). Anything else goes by its name.
    """
    parent_category: dict[int, str | None] = {}

    def marked(ev: Any) -> str | None:
        key = id(ev)
        if key in parent_category:
            return parent_category[key]
        cat = None
        if ev.name in _MARKERS:
            cat = _MARKERS[ev.name]
        elif ev.name.startswith("Optimizer."):
            cat = "optimizer"
        elif ev.cpu_parent is not None:
            cat = marked(ev.cpu_parent)
        parent_category[key] = cat
        return cat

    events = list(events)
    seq_category: dict[int, str] = {}
    for ev in events:  # forward ops inside a marked region: remember their autograd sequence numbers
        cat = marked(ev)
        seq = getattr(ev, "sequence_nr", -1)
        if cat in ("selective scan", "Haar DWT") and seq is not None and seq >= 0:
            seq_category[seq] = cat
    totals = dict.fromkeys(CATEGORIES, 0.0)
    backward_category: dict[int, str | None] = {}

    def backward_marked(ev: Any) -> str | None:
        key = id(ev)
        if key not in backward_category:
            cat = None
            seq = getattr(ev, "sequence_nr", -1)
            if "backward" in ev.name.lower() and seq is not None and seq in seq_category:
                cat = seq_category[seq]
            elif ev.cpu_parent is not None:
                cat = backward_marked(ev.cpu_parent)
            backward_category[key] = cat
        return backward_category[key]

    for ev in events:
        value = ev.self_device_time_total if use_device_time else ev.self_cpu_time_total
        if not value:
            continue
        cat = marked(ev) or backward_marked(ev) or op_category(ev.name)
        totals[cat] += value / 1e3
    return totals


def _top_ops(events: Any, use_device_time: bool, n: int = 8) -> list[tuple[str, float]]:
    agg: dict[str, float] = {}
    for ev in events:
        value = ev.self_device_time_total if use_device_time else ev.self_cpu_time_total
        agg[ev.name] = agg.get(ev.name, 0.0) + value / 1e3
    return sorted(agg.items(), key=lambda kv: -kv[1])[:n]


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh subprocess: one network, one phase ("infer", "train", "profile" or "backends")."""
    import torch

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    device = torch.device(cfg["device"])
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def peak_base() -> int:
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated()
        return _peak_rss_bytes()

    def peak_extra_mb(base: int) -> float:
        sync()
        return ((torch.cuda.max_memory_allocated() if cuda else _peak_rss_bytes()) - base) / 2**20

    def timed(fn: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
        for _ in range(warmup):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return times

    name, size, batch, phase = cfg["model"], cfg["image_size"], cfg["batch_size"], cfg["phase"]
    model = build_model(name, cfg.get("scan_backend")).to(device)
    x1 = torch.randn(1, 3, size, size, device=device)
    xb = torch.randn(batch, 3, size, size, device=device)
    if cfg.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
        x1, xb = (t.contiguous(memory_format=torch.channels_last) for t in (x1, xb))
    result: dict[str, Any] = {}

    if phase == "infer":
        model.eval()
        base = peak_base()
        with torch.no_grad():
            result["latency_s"] = timed(lambda: model(x1), cfg["warmup"], cfg["latency_repeats"])
            scans = _ScanTimer(torch, sync, timing=cuda)
            if cuda:  # the synchronising scan timer would slow the throughput runs down: time them apart
                result["infer_s"] = timed(lambda: model(xb), cfg["warmup"], cfg["repeats"])
                with scans.installed():
                    forward = timed(lambda: model(xb), 0, cfg["repeats"])
            else:  # on the CPU every op is synchronous: time the scans within the throughput runs
                timed(lambda: model(xb), cfg["warmup"], 0)
                with scans.installed():
                    forward = result["infer_s"] = timed(lambda: model(xb), 0, cfg["repeats"])
        result["infer_peak_mb"] = peak_extra_mb(base)
        result["scan_pct"] = 100.0 * scans.seconds / sum(forward) if scans.calls else 0.0
        from monai_fusion.networks.cost import count_macs, count_parameters

        macs, scan_macs = count_macs(model, x1)
        result.update(params=count_parameters(model), macs=macs + scan_macs, scan_macs=scan_macs)
        return result

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step(amp: bool = False) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = _loss(model(xb), torch)
        if amp:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    scaler = torch.amp.GradScaler(device.type, enabled=cuda)
    if phase == "train":
        base = peak_base()
        result["train_s"] = timed(train_step, cfg["warmup"], cfg["repeats"])
        result["train_peak_mb"] = peak_extra_mb(base)
        if cuda and cfg.get("amp", True):
            result["train_amp_s"] = timed(lambda: train_step(amp=True), cfg["warmup"], cfg["repeats"])
        return result

    if phase == "profile":
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        train_step()  # warm-up
        with _ScanTimer(torch, sync, timing=False).installed(), _dwt_marked(torch):
            with torch.no_grad():
                model.eval()
                model(xb)
                sync()
                with profile(activities=activities) as prof_fwd:
                    model(xb)
                    sync()
            model.train()
            with profile(activities=activities) as prof_train:
                train_step()
                sync()
        for key, prof in (("forward", prof_fwd), ("train", prof_train)):
            events = prof.events()
            result[key] = categorise(events, use_device_time=cuda)
            result[f"{key}_top"] = _top_ops(events, use_device_time=cuda)
        return result

    if phase == "backends":  # CUDA only: mamba-ssm's kernel against the torch backend, same weights and input
        torch_model = build_model(name, "torch").to(device)
        torch_model.load_state_dict(model.state_dict())
        model.eval()
        torch_model.eval()
        with torch.no_grad():
            diff = (model(xb).float() - torch_model(xb).float()).abs().max().item()
        result["max_abs_diff"] = diff
        model.train()
        result["cuda_train_s"] = timed(train_step, cfg["warmup"], cfg["repeats"])
        model = torch_model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        result["torch_train_s"] = timed(train_step, cfg["warmup"], cfg["repeats"])
        return result
    raise ValueError(f"unknown phase {phase!r}")


# ---------------------------------------------------------------------------------------------------------- parent


def run_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs ``worker`` in a fresh Python subprocess; returns its result, or ``{"error": last stderr line}``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(cfg["threads"]), MKL_NUM_THREADS=str(cfg["threads"]))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = proc.stderr.strip().splitlines() or [f"worker exited with status {proc.returncode}"]
        return {"error": err[-1]}
    return json.loads(lines[-1])


def _in_process(cfg: dict[str, Any]) -> dict[str, Any]:
    """``worker`` in this process (``--in-process``): no start-up cost, but peak memory is not isolated."""
    try:
        return worker(cfg)
    except Exception as err:  # noqa: BLE001 - one failing network must not stop the others
        return {"error": f"{type(err).__name__}: {err}"}


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Hardware, library versions and settings of this run."""
    import monai
    import timm
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": args.device,
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": args.threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "timm": timm.__version__,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "latency_repeats": args.latency_repeats,
        "rounds": args.rounds,
        "memory_format": "channels_last" if args.channels_last else "contiguous (NCHW)",
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if args.device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
        from monai_fusion.networks.ops import is_cuda_scan_available

        env["mamba_ssm_kernel"] = is_cuda_scan_available()
    return env


def summarise(runs: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """One network's figures from its rounds: medians over the rounds of each round's median time."""

    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def per_round(key: str) -> list[float]:
        return [statistics.median(r[key]) for r in runs if key in r]

    row: dict[str, Any] = {}
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        row["error"] = errors[0]
    first = next((r for r in runs if "params" in r), None)
    if first is not None:
        row.update(params_m=first["params"] / 1e6, gmacs=first["macs"] / 1e9, scan_gmacs=first["scan_macs"] / 1e9)
    lat, inf, trn, amp = per_round("latency_s"), per_round("infer_s"), per_round("train_s"), per_round("train_amp_s")
    if lat:
        row["latency_ms"] = 1e3 * med(lat)
    if inf:
        row["infer_ips"] = batch / med(inf)
    if trn:
        row["train_ips"] = batch / med(trn)
    if amp:
        row["train_amp_ips"] = batch / med(amp)
    for key in ("infer_peak_mb", "train_peak_mb", "scan_pct"):
        values = [r[key] for r in runs if key in r]
        if values:
            row[key] = max(values) if key.endswith("_mb") else med(values)
    return row


def ratio_rows(rows: dict[str, dict[str, Any]], columns: tuple[tuple[str, str, str], ...]) -> None:
    """Adds ``<key>_ratio`` = figure / ResNet-50's figure to every row (None where either is missing or zero)."""
    base = rows.get(BASELINE, {})
    for row in rows.values():
        for key, _, _ in columns:
            ref = base.get(key)
            row[f"{key}_ratio"] = row[key] / ref if row.get(key) is not None and ref else None


def write_tables(
    rows: dict[str, dict[str, Any]], columns: tuple[tuple[str, str, str], ...], env: dict[str, Any], out: Path
) -> tuple[Path, Path]:
    size = env["image_size"]
    md_path, csv_path = out / f"benchmark_{size}.md", out / f"benchmark_{size}.csv"
    keys = [k for k, _, _ in columns]
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", *keys, *(f"{k}_ratio" for k in keys), "error"])
        for name, row in rows.items():
            writer.writerow(
                [name]
                + ["" if row.get(k) is None else f"{row[k]:.10g}" for k in keys]
                + ["" if row.get(f"{k}_ratio") is None else f"{row[f'{k}_ratio']:.10g}" for k in keys]
                + [row.get("error", "")]
            )
    where = env.get("gpu", env["cpu"]) + (f" (CUDA {env['cuda']})" if "gpu" in env else "")
    lines = [
        f"# Benchmark at {size}x{size} on {where}",
        "",
        f"Batch {env['batch_size']} for throughput and training, batch 1 for latency; {env['threads']} intra-op "
        f"thread(s); medians of {env['repeats']} timed run(s) after {env['warmup']} warm-up(s) "
        f"({env['latency_repeats']} for latency), median over {env['rounds']} interleaved round(s). "
        f"Each cell: figure (ratio to ResNet-50). Method: docs/benchmarks.md.",
        "",
        "| environment | |",
        "| --- | --- |",
    ]
    for key in ("date", "device", "gpu", "cuda", "mamba_ssm_kernel", "cpu", "logical_cores", "usable_cores"):
        if key in env:
            lines.append(f"| {key} | {env[key]} |")
    lines += [
        f"| cpu_capability | {env['cpu_capability']} |",
        f"| threads | {env['threads']} |",
        f"| memory format | {env['memory_format']} |",
        f"| versions | python {env['python']}, torch {env['torch']}, monai {env['monai']}, timm {env['timm']} |",
        f"| load average at start | {env['load_average']} |",
        "",
        "| model | " + " | ".join(h for _, h, _ in columns) + " |",
        "| --- | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for name, row in rows.items():
        cells = []
        for key, _, fmt in columns:
            if row.get(key) is None:
                cells.append("error" if "error" in row else "-")
                continue
            ratio = row.get(f"{key}_ratio")
            cells.append(fmt.format(row[key]) + ("" if ratio is None else f" ({ratio:.2f}x)"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    errors = [f"- {name}: {row['error']}" for name, row in rows.items() if "error" in row]
    if errors:
        lines += ["", "Errors:", *errors]
    md_path.write_text("\n".join(lines) + "\n")
    return md_path, csv_path


def write_profile(profiles: dict[str, dict[str, Any]], env: dict[str, Any], out: Path) -> Path:
    path = out / f"profile_{env['image_size']}.md"
    unit = "GPU time" if env["device"] == "cuda" else "CPU self time"
    lines = [
        f"# Where the time goes, {env['image_size']}x{env['image_size']}, batch {env['batch_size']}",
        "",
        f"torch.profiler {unit} per category (ms and % of the total) for one forward pass (inference) and one training "
        "step (forward + backward + AdamW). The selective scan and the Haar DWT are marked regions, and the backward "
        "of their ops is matched to them by autograd sequence number; everything else is classified by op name. "
        f"Environment: {env.get('gpu', env['cpu'])}, {env['threads']} thread(s), torch {env['torch']}.",
        "",
        "| model | pass | " + " | ".join(CATEGORIES) + " | total ms |",
        "| --- | --- | " + " | ".join("---:" for _ in CATEGORIES) + " | ---: |",
    ]
    for name, prof in profiles.items():
        if "error" in prof:
            lines.append(f"| {name} | error: {prof['error']} |" + " |" * (len(CATEGORIES) + 1))
            continue
        for key in ("forward", "train"):
            totals = prof[key]
            total = sum(totals.values()) or 1.0
            cells = [f"{totals[c]:.0f} ({100 * totals[c] / total:.0f}%)" for c in CATEGORIES]
            lines.append(f"| {name} | {key} | " + " | ".join(cells) + f" | {total:.0f} |")
    lines += ["", "Top ops by self time in the training step (ms):", ""]
    for name, prof in profiles.items():
        if "error" not in prof:
            ops = ", ".join(f"{op} {ms:.0f}" for op, ms in prof["train_top"])
            lines.append(f"- **{name}**: {ops}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_backends(results: dict[str, dict[str, Any]], env: dict[str, Any], out: Path) -> Path:
    size = env["image_size"]
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append({"model": name, "error": r["error"]})
            continue
        cuda_s, torch_s = statistics.median(r["cuda_train_s"]), statistics.median(r["torch_train_s"])
        rows.append(
            {
                "model": name,
                "max_abs_diff": r["max_abs_diff"],
                "cuda_train_ips": env["batch_size"] / cuda_s,
                "torch_train_ips": env["batch_size"] / torch_s,
                "speedup": torch_s / cuda_s,
            }
        )
    keys = ["model", "max_abs_diff", "cuda_train_ips", "torch_train_ips", "speedup", "error"]
    with open(out / f"gpu_scan_backends_{size}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Selective-scan backends on {env.get('gpu')}, {size}x{size}, batch {env['batch_size']}",
        "",
        "max |logits(cuda) - logits(torch)| in eval mode with the same weights and input; training img/s of each "
        "backend and the speed-up of mamba-ssm's kernel.",
        "",
        "| model | max abs diff | cuda img/s | torch img/s | speed-up |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | error: {r['error']} | | | |")
        else:
            lines.append(
                f"| {r['model']} | {r['max_abs_diff']:.2e} | {r['cuda_train_ips']:.1f} | {r['torch_train_ips']:.1f} "
                f"| {r['speedup']:.2f}x |"
            )
    path = out / f"gpu_scan_backends_{size}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224, help="input height and width (default 224)")
    parser.add_argument("--fast", action="store_true", help="128x128 inputs (overrides --image-size)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch of the throughput and training runs")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--models", nargs="+", default=None, help="subset of the networks (default: all)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmark_results"))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before each measurement")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of throughput and training")
    parser.add_argument("--latency-repeats", type=int, default=10, help="timed runs of the batch-1 latency")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds over all networks (median)")
    parser.add_argument("--profile", action="store_true", help="also write the per-category time breakdown")
    parser.add_argument("--no-amp", action="store_true", help="CUDA: skip the AMP training measurement")
    parser.add_argument(
        "--channels-last", action="store_true", help="weights and inputs in channels_last memory format (all models)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="measure in this process instead of a fresh subprocess per run (quick checks and tests: no start-up "
        "cost, but the peak-memory figures are not isolated)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return args
    if args.fast:
        args.image_size = 128
    names = model_names()
    args.models = args.models or names
    unknown = [m for m in args.models if m not in names]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {names}")
    if BASELINE not in args.models:
        args.models.append(BASELINE)  # every ratio needs the baseline
    if args.image_size < 32 or args.image_size % 32:
        parser.error(
            f"--image-size must be a positive multiple of 32 (the networks downsample 32x), got {args.image_size}"
        )
    for key in ("batch_size", "threads", "repeats", "latency_repeats", "rounds"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda needs a CUDA device (torch.cuda.is_available() is False)")
    return args


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return {}
    from tqdm import tqdm

    args.output_dir.mkdir(parents=True, exist_ok=True)
    env = environment(args)
    common = {
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "device": args.device,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "latency_repeats": args.latency_repeats,
        "amp": not args.no_amp,
        "channels_last": args.channels_last,
    }
    jobs: list[tuple[str, str]] = []
    for r in range(args.rounds):
        shift = r % len(args.models)
        order = args.models[shift:] + args.models[:shift]
        jobs += [(name, phase) for name in order for phase in ("infer", "train")]
    if args.profile:
        jobs += [(name, "profile") for name in args.models]
    cuda_backends = args.device == "cuda" and env.get("mamba_ssm_kernel")
    if cuda_backends:
        jobs += [(name, "backends") for name in args.models if name in SCAN_MODELS]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.models}
    profiles: dict[str, dict[str, Any]] = {}
    backends: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    for name, phase in (bar := tqdm(jobs, desc="benchmark", unit="run")):
        bar.set_postfix_str(f"{name} {phase}")
        cfg = dict(common, model=name, phase=phase)
        if phase == "backends":
            cfg["scan_backend"] = "cuda"
        result = _in_process(cfg) if args.in_process else run_worker(cfg)
        if phase == "profile":
            profiles[name] = result
        elif phase == "backends":
            backends[name] = result
        else:
            runs[name].append(result)
    env["wall_seconds"] = round(time.perf_counter() - start, 1)
    columns = COLUMNS + (CUDA_COLUMNS if args.device == "cuda" and not args.no_amp else ())
    rows = {name: summarise(runs[name], args.batch_size) for name in args.models}
    ratio_rows(rows, columns)
    md_path, csv_path = write_tables(rows, columns, env, args.output_dir)
    (args.output_dir / f"benchmark_{args.image_size}_env.json").write_text(json.dumps(env, indent=2) + "\n")
    written = [md_path, csv_path]
    if profiles:
        written.append(write_profile(profiles, env, args.output_dir))
    if backends:
        written.append(write_backends(backends, env, args.output_dir))
    print(md_path.read_text())
    print(f"wall time {env['wall_seconds']:.0f} s; wrote " + ", ".join(str(p) for p in written))
    return rows


if __name__ == "__main__":
    main()
