# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``scripts/study.py`` end to end on tiny subsets of the real data (two tasks, one cheap model each, 2 epochs at
32-64 px), plus its report helpers: runs.csv, curves, results.md, --plan and the skip of finished runs."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys

import pytest

from tests.utils import REPO_ROOT, require_data

SCRIPT = REPO_ROOT / "scripts" / "study.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("monai_fusion_study_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the file executes
    spec.loader.exec_module(module)
    return module


study = _load_script()


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_network_defs_come_from_the_bundles_or_monai() -> None:
    for name in ("cdfinet", "hifuse", "medmamba", "mfsf2net"):
        config = json.loads((REPO_ROOT / "bundles" / name / "configs" / "train.json").read_text())
        assert study.network_def(name) == config["network_def"]
    assert study.network_def("resnet50")["conv1_t_stride"] == 2  # the 2-D ImageNet stem, as scripts/benchmark.py
    assert study.network_def("unet")["out_channels"] == 1


def test_equal_epoch_and_equal_cpu_helpers() -> None:
    curves = [
        {"epoch": 1.0, "cpu_s": 10.0, "val_accuracy": 0.5},
        {"epoch": 2.0, "cpu_s": 20.0, "val_accuracy": 0.7},
        {"epoch": 3.0, "cpu_s": 30.0, "val_accuracy": 0.6},
    ]
    assert study.equal_epoch_values(curves, "val_accuracy", 2) == 0.7
    assert math.isnan(study.equal_epoch_values(curves, "val_accuracy", 4))
    assert study.best_within_cpu(curves, "val_accuracy", 25.0) == 0.7
    assert study.best_within_cpu(curves, "val_accuracy", 35.0) == 0.7
    assert math.isnan(study.best_within_cpu(curves, "val_accuracy", 5.0))
    assert study.format_mean_sd([0.5, 0.7]) == "0.600 ± 0.141" and study.format_mean_sd([math.nan]) == "—"


@pytest.mark.data
@pytest.mark.bundle
def test_study_runs_the_bundles_writes_results_and_skips_finished_runs(tmp_path, capsys) -> None:
    data_root = require_data("covid_ct").parent
    require_data("kvasir_seg")
    out = tmp_path / "study"
    argv = ["--tasks", "covid_ct", "kvasir_seg", "--models", "densenet121", "unet", "--seeds", "0"]
    argv += ["--image-size", "32", "--max-epochs", "2", "--patience", "1", "--max-train-items", "8"]
    argv += ["--max-val-items", "4", "--batch-size", "4", "--jobs", "2", "--data-root", str(data_root)]
    argv += ["--output-dir", str(out)]

    study.main([*argv, "--plan"])
    assert "2 to run" in capsys.readouterr().out and not (out / "runs.csv").exists()
    assert (out / "datalists" / "covid_ct_split0.json").is_file()  # built in the study folder, not the repository

    study.main(argv)
    printed = capsys.readouterr().out
    assert "[1/2]" in printed and "[2/2]" in printed
    rows = _rows(out / "runs.csv")
    assert [(r["task"], r["model"], r["status"]) for r in rows] == [
        ("covid_ct", "densenet121", "ok"),
        ("kvasir_seg", "unet", "ok"),  # a plain-tensor network through the segmentation bundle
    ]
    for row in rows:
        assert row["epochs_run"] == "2" and row["image_size"] == "32" and row["n_train"] == "8"
        assert float(row["train_cpu_s"]) > 0 and float(row["eval_cpu_s"]) > 0
        assert row["best_epoch"] in ("1", "2") and row["stopped_early"] == "0"
        name = study.run_name(row["task"], row["model"], 0)
        assert (out / "curves" / f"{name}.png").stat().st_size > 1000
        curves = study.read_curves(out / "curves" / f"{name}.csv")
        assert [int(c["epoch"]) for c in curves] == [1, 2] and curves[0]["cpu_s"] <= curves[1]["cpu_s"]
        overrides = json.loads((out / "runs" / name / "overrides.json").read_text())
        assert overrides["max_epochs"] == 2 and str(out) in overrides["ckpt_dir"]
        record = json.loads((out / "runs" / name / "training_record.json").read_text())
        swapped = overrides["network_def"]["_target_"].rsplit(".", 1)[-1]
        assert record["network_def"]["_target_"].endswith(swapped)  # the swapped network is what trained
        # the resumable checkpoints are removed once evaluated; the selected weights stay for --install-weights
        assert sorted(p.name for p in (out / "runs" / name / "models").iterdir()) == [
            "model.pt",
            "training_record.json",
        ]
    covid, kvasir = rows
    assert covid["host_bundle"] == "hifuse" and 0.0 <= float(covid["test_balanced_accuracy"]) <= 1.0
    assert kvasir["host_bundle"] == "mfsf2net_segmentation" and 0.0 <= float(kvasir["test_mean_dice"]) <= 1.0
    assert math.isfinite(float(kvasir["test_hd95"])) and float(kvasir["test_empty_predictions"]) >= 0
    markdown = (out / "results.md").read_text()
    for text in ("not the papers' setting", "## COVID-CT", "## Kvasir-SEG", "At equal epochs", "32 x 32 px"):
        assert text in markdown, text
    assert "| DenseNet121 (MONAI, baseline) |" in markdown and "| UNet (MONAI, baseline) |" in markdown
    for task in ("covid_ct", "kvasir_seg"):  # one figure per task: every run against epochs and CPU time
        assert f"(curves/{task}_comparison.png)" in markdown
        assert (out / "curves" / f"{task}_comparison.png").stat().st_size > 1000

    # the same command again: nothing is rerun, the rows stay as they were
    log = out / "runs" / study.run_name("covid_ct", "densenet121", 0) / "train.log"
    before = log.stat().st_mtime_ns
    study.main(argv)
    assert "2 already in" in capsys.readouterr().out
    assert _rows(out / "runs.csv") == rows and log.stat().st_mtime_ns == before
