# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``scripts/benchmark.py`` on a tiny subset at a tiny size: table columns, ratios to ResNet-50, scan share, the
profile breakdown and the subprocess worker. No timing is asserted (the figures depend on the machine)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math

import pytest

from monai_fusion.networks.cost import count_parameters
from tests.utils import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("monai_fusion_benchmark_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = ["--image-size", "32", "--batch-size", "2", "--models", "cdfinet", "--threads", "1", "--repeats", "1"]
    argv += ["--latency-repeats", "1", "--warmup", "0", "--output-dir", str(out), "--in-process", "--profile"]
    rows = bench.main(argv)
    return bench, out, rows


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_columns_and_ratios(tiny_run):
    bench, out, _ = tiny_run
    rows = _read_csv(out / "benchmark_32.csv")
    keys = [k for k, _, _ in bench.COLUMNS]
    assert list(rows[0]) == ["model", *keys, *(f"{k}_ratio" for k in keys), "error"]
    by_name = {r["model"]: r for r in rows}
    assert list(by_name) == ["cdfinet", "resnet50"]  # the baseline is always added
    base, net = by_name["resnet50"], by_name["cdfinet"]
    assert not base["error"] and not net["error"]
    for key in ("params_m", "gmacs", "latency_ms", "infer_ips", "train_ips"):
        assert float(base[f"{key}_ratio"]) == pytest.approx(1.0)
        assert float(net[f"{key}_ratio"]) == pytest.approx(float(net[key]) / float(base[key]), rel=1e-4)
        assert float(net[key]) > 0
    # figures that do not depend on timing: exact parameter counts and the analytic scan MACs
    cdfinet = bench.build_model("cdfinet")
    assert float(net["params_m"]) == pytest.approx(count_parameters(cdfinet) / 1e6, abs=1e-9)
    assert cdfinet.head.out_features == 7
    assert float(base["params_m"]) == pytest.approx(23_526_215 / 1e6, abs=1e-9)  # ResNet-50, 7 classes
    assert float(net["scan_gmacs"]) > 0 and float(base["scan_gmacs"]) == 0
    assert 0 < float(net["scan_pct"]) < 100 and float(base["scan_pct"]) == 0
    assert base["scan_pct_ratio"] == ""  # no ratio to a zero figure


def test_markdown_table_and_environment(tiny_run):
    bench, out, rows = tiny_run
    text = (out / "benchmark_32.md").read_text()
    assert "| model | " + " | ".join(h for _, h, _ in bench.COLUMNS) + " |" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| cdfinet |"))
    assert f"({rows['cdfinet']['train_ips_ratio']:.2f}x)" in line
    resnet_line = next(ln for ln in text.splitlines() if ln.startswith("| resnet50 |"))
    # every ResNet-50 figure that has a ratio (non-zero: in-process peak memory can be 0) is its own baseline
    with_ratio = [k for k, _, _ in bench.COLUMNS if rows["resnet50"].get(f"{k}_ratio") is not None]
    assert {"params_m", "gmacs", "latency_ms", "infer_ips", "train_ips"} <= set(with_ratio)
    assert resnet_line.count("(1.00x)") == len(with_ratio)
    assert "x)" not in resnet_line.replace("(1.00x)", "")
    env = json.loads((out / "benchmark_32_env.json").read_text())
    assert env["threads"] == 1 and env["image_size"] == 32 and env["batch_size"] == 2
    for key in ("cpu", "torch", "monai", "timm", "python"):
        assert env[key] and f"{env[key]}" in text


def test_profile_breakdown(tiny_run):
    bench, out, _ = tiny_run
    text = (out / "profile_32.md").read_text()
    assert "| model | pass | " + " | ".join(bench.CATEGORIES) + " | total ms |" in text
    cells = {}
    for ln in text.splitlines():
        parts = [p.strip() for p in ln.strip("|").split("|")]
        if parts[0] in ("cdfinet", "resnet50") and parts[1] in ("forward", "train"):
            cells[(parts[0], parts[1])] = dict(zip(bench.CATEGORIES, parts[2:]))
    assert len(cells) == 4

    def ms(cell: str) -> float:
        return float(cell.split()[0])

    # CDFINet's scan and Haar DWT are found (forward and backward); ResNet-50 has neither, but has convs
    for cat in ("selective scan", "Haar DWT", "conv"):
        assert ms(cells[("cdfinet", "forward")][cat]) > 0 and ms(cells[("cdfinet", "train")][cat]) > 0
    assert ms(cells[("resnet50", "train")]["selective scan"]) == 0
    assert ms(cells[("resnet50", "train")]["Haar DWT"]) == 0
    assert ms(cells[("resnet50", "train")]["optimizer"]) > 0
    assert ms(cells[("resnet50", "forward")]["optimizer"]) == 0


@pytest.mark.parametrize(
    "name,category",
    [
        ("aten::mkldnn_convolution", "conv"),
        ("aten::convolution_backward", "conv"),
        ("aten::addmm", "matmul/linear"),
        ("aten::bmm", "matmul/linear"),
        ("aten::native_layer_norm", "norm"),
        ("aten::native_batch_norm_backward", "norm"),
        ("aten::copy_", "copy/layout"),
        ("aten::cat", "copy/layout"),
        ("aten::flip", "copy/layout"),
        ("aten::gelu", "elementwise"),
        ("aten::addcmul_", "elementwise"),
        ("Optimizer.step#AdamW.step", "optimizer"),
    ],
)
def test_op_category(bench, name, category):
    assert bench.op_category(name) == category


def test_subprocess_worker(bench):
    """The default path: one phase in a fresh subprocess reports its figures and a non-negative peak memory."""
    cfg = {"model": "resnet50", "phase": "infer", "image_size": 32, "batch_size": 2, "threads": 1, "device": "cpu"}
    cfg.update(warmup=0, repeats=1, latency_repeats=1)
    result = bench.run_worker(cfg)
    assert "error" not in result, result
    assert result["params"] == 23_526_215
    assert result["infer_peak_mb"] >= 0 and result["scan_pct"] == 0
    assert len(result["latency_s"]) == 1 and result["latency_s"][0] > 0
    failed = bench._in_process(dict(cfg, model="no_such_net"))  # a failing network is reported, not raised
    assert "no_such_net" in failed["error"]


def test_bad_arguments(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "no_such_net"])
    assert "unknown model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args(["--image-size", "100"])
    assert "multiple of 32" in capsys.readouterr().err
    args = bench.parse_args(["--fast", "--models", "cdfinet"])
    assert args.image_size == 128 and args.models == ["cdfinet", "resnet50"]
    assert math.isfinite(args.batch_size)
