#!/usr/bin/env python
# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Accuracy study that measures the bundles themselves: each run is the bundle's own ``train.json`` then
``train.json + evaluate.json``, in its own ``python -m monai.bundle run`` process (issue 16).

Unlike ``scripts/accuracy.py`` (its own loop, cache and recipe), nothing here re-implements a bundle: the
transforms, loss, sampler, learning-rate schedule, early stopping, checkpoint selection and metrics are the ones a
user gets from ``python -m monai.bundle run training --config_file bundles/<b>/configs/train.json``. The study only
writes an overrides file (last in ``--config_file``) per run:

* the datalist: built once per task by the project's builders (``monai_fusion.data.build_*_datalist``, split seed 0,
  0.8 / 0.1 / 0.1, grouped by lesion / patient / paper) into ``<output-dir>/datalists/`` and checked once
  (``validate_datalist``), never in the repository;
* resolution (classification ``image_size``, segmentation ``spatial_size``), ``max_train_items`` /
  ``max_val_items`` subsets, a ``max_epochs`` cap with ``early_stop_patience`` on the validation key metric,
  ``key_metric``, ``seed``, ``num_threads`` / ``num_workers``, and ``ckpt_dir`` / ``output_dir`` under the study
  folder;
* the network (``network_def``). Every classification task runs through ONE host bundle (``--classification-bundle``,
  default ``hifuse``: the HAM10000 recipe of the HiFuse and MFSF2-Net bundles, class-weighted loss) with the
  network swapped, so that only the network differs between rows; the fusion networks use their own bundle's
  ``network_def`` (CDFINet, HiFuse-S, MedMamba-T, MFSF2Net), the MONAI baselines are ``DenseNet121`` and ``resnet50``
  with the 2-D ImageNet stem (``conv1_t_stride=2``). Kvasir-SEG runs through ``mfsf2net_segmentation`` with
  ``MFSF2NetSeg``, MONAI ``UNet`` and ``FlexibleUNet`` (EfficientNet-B0, no pretrained weights).

Outputs in ``--output-dir``: ``runs.csv`` (one row per finished run, rewritten atomically after each run; rerunning
the same command skips the runs already there with the same settings), ``curves/<task>_<model>_seed<k>.png`` and
``.csv`` (the bundle's ``TrainingCurvesPlotter`` outputs: per-epoch loss, validation metrics, CPU and wall seconds),
``curves/<task>_comparison.png`` (every run of a task against epochs and CPU time), ``runs/<task>_<model>_seed<k>/``
(overrides, logs, the selected weights ``models/model.pt``, evaluation) and ``results.md`` (mean ± sd over seeds of
the test metrics, then the validation key metric at equal epochs and at equal CPU time). ``--install-weights`` then
copies a fusion network's run into its bundle's ``models/``, where the bundle's inference, evaluation and
``scripts/release.py bundle`` find it; ``scripts/study_cards.py`` writes the published results into the cards.

Usage::

    python scripts/study.py --plan                      # the runs and a rough cost, nothing is run
    python scripts/study.py                             # the study (docs/study.md), resumable run by run
    python scripts/study.py --tasks covid_ct --models densenet121 cdfinet --seeds 0 --max-epochs 2 --image-size 64
    python scripts/study.py --tasks ham10000 --models hifuse --seeds 0 --install-weights   # the card's model.pt
    python scripts/study.py --seeds 0 --report          # rewrite results.md from runs.csv, run nothing
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLES = REPO_ROOT / "bundles"
SEGMENTATION_BUNDLE = "mfsf2net_segmentation"
CLASSIFICATION_BUNDLES = ("cdfinet", "hifuse", "medmamba", "mfsf2net")
INSTALL_ROOT = BUNDLES  # where --install-weights finds bundles/<bundle>/models (a parameter for tests)
# the bundle whose models/ --install-weights fills with a run of each fusion network (baselines have no bundle)
MODEL_BUNDLES = {
    "cdfinet": "cdfinet",
    "hifuse": "hifuse",
    "medmamba": "medmamba",
    "mfsf2net": "mfsf2net",
    "mfsf2net_seg": SEGMENTATION_BUNDLE,
}


@dataclass(frozen=True)
class Task:
    """One dataset of the study.

    Args:
        name: key on the command line and in the outputs.
        title: human-readable name.
        kind: ``"classification"`` or ``"segmentation"``.
        folder: dataset folder below the data root.
        builder: datalist builder in ``monai_fusion.data``.
        split_note: what the split is grouped by.
    """

    name: str
    title: str
    kind: str
    folder: str
    builder: str
    split_note: str


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("ham10000", "HAM10000, 7 classes", "classification", "ham10000", "build_ham10000_datalist", "lesion"),
        Task(
            "kermany_cxr",
            "Chest X-ray pneumonia (Kermany), 2 classes",
            "classification",
            "chest_xray_pneumonia",
            "build_kermany_cxr_datalist",
            "patient",
        ),
        Task("covid_ct", "COVID-CT, 2 classes", "classification", "covid_ct", "build_covid_ct_datalist", "paper"),
        Task("kvasir_seg", "Kvasir-SEG polyps", "segmentation", "kvasir_seg", "build_kvasir_seg_datalist", "image"),
    )
}

# model -> (title, network_def); "bundle:<name>" takes that bundle's own network_def from its train.json
CLASSIFICATION_MODELS: dict[str, tuple[str, Any]] = {
    "cdfinet": ("CDFINet (cdfinet bundle's network)", "bundle:cdfinet"),
    "hifuse": ("HiFuse-S (hifuse bundle's network)", "bundle:hifuse"),
    "medmamba": ("MedMamba-T (medmamba bundle's network)", "bundle:medmamba"),
    "mfsf2net": ("MFSF2Net (mfsf2net bundle's network)", "bundle:mfsf2net"),
    "densenet121": (
        "DenseNet121 (MONAI, baseline)",
        {"_target_": "DenseNet121", "spatial_dims": 2, "in_channels": 3, "out_channels": "@num_classes"},
    ),
    "resnet50": (
        "ResNet-50 (MONAI, ImageNet stem, baseline)",
        {
            "_target_": "monai.networks.nets.resnet50",
            "spatial_dims": 2,
            "n_input_channels": 3,
            "num_classes": "@num_classes",
            "conv1_t_stride": 2,
        },
    ),
}
SEGMENTATION_MODELS: dict[str, tuple[str, Any]] = {
    "mfsf2net_seg": ("MFSF2NetSeg (segmentation bundle's network)", f"bundle:{SEGMENTATION_BUNDLE}"),
    "unet": (
        "UNet (MONAI, baseline)",
        {
            "_target_": "UNet",
            "spatial_dims": 2,
            "in_channels": 3,
            "out_channels": 1,
            "channels": [16, 32, 64, 128, 256],
            "strides": [2, 2, 2, 2],
            "num_res_units": 2,
        },
    ),
    "flexible_unet": (
        "FlexibleUNet EfficientNet-B0 (MONAI, baseline)",
        {
            "_target_": "FlexibleUNet",
            "in_channels": 3,
            "out_channels": 1,
            "backbone": "efficientnet-b0",
            "pretrained": False,
            "spatial_dims": 2,
        },
    ),
}
MODELS = {**CLASSIFICATION_MODELS, **SEGMENTATION_MODELS}

# test metrics copied from the evaluation's metrics.csv into runs.csv
CLASSIFICATION_METRICS = ("balanced_accuracy", "macro_f1", "macro_auc", "accuracy")
SEGMENTATION_METRICS = ("mean_dice", "mean_iou", "hd95", "empty_predictions")
METRIC_TITLES = {
    "balanced_accuracy": "Balanced acc.",
    "macro_f1": "Macro F1",
    "macro_auc": "Macro AUC",
    "accuracy": "Accuracy",
    "mean_dice": "Dice",
    "mean_iou": "IoU",
    "hd95": "HD95 (px)",
    "empty_predictions": "Empty preds",
}
# the validation key metric as the bundles name it in engine.state.metrics (and so in training_curves.csv); the
# classification bundles keep the name val_accuracy for whichever --key_metric is chosen
VAL_KEY = {"classification": "val_accuracy", "segmentation": "val_mean_dice"}

# CPU-ms per training image at 96 px, one thread, an epoch's validation included (1,000-image epochs cost about
# 1,000 x this plus a third of it per validation image): measured with this script on 32 COVID-CT / Kvasir-SEG images
# on the 2-core development machine under load (docs/study.md, "Cost"); used only by --plan, scaled by the pixel count
_COST_MS_96 = {
    "cdfinet": 115,
    "hifuse": 500,
    "medmamba": 128,
    "mfsf2net": 337,
    "densenet121": 102,
    "resnet50": 100,
    "mfsf2net_seg": 329,
    "unet": 47,
    "flexible_unet": 100,
}
_STARTUP_CPU_S = 18.0  # two interpreter starts (imports, network build, datalist) per run: about 9 CPU-s each

# run-defining settings: a row of runs.csv is reused only when all of them match
SETTING_KEYS = (
    "host_bundle",
    "image_size",
    "max_train_items",
    "max_val_items",
    "max_epochs",
    "early_stop_patience",
    "key_metric",
    "batch_size",
    "num_threads",
    "num_workers",
    "split_seed",
)
CSV_COLUMNS = (
    "task",
    "model",
    "seed",
    "status",
    "settings_id",
    *SETTING_KEYS,
    "n_train",
    "n_val",
    "n_test",
    "epochs_run",
    "best_epoch",
    "best_val",
    "stopped_early",
    "train_cpu_s",
    "train_wall_s",
    "eval_cpu_s",
    "eval_wall_s",
    *(f"test_{m}" for m in CLASSIFICATION_METRICS),
    *(f"test_{m}" for m in SEGMENTATION_METRICS),
    "finished",
    "error",
)


def default_data_root() -> Path:
    """``$MONAI_FUSION_DATA_DIR``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("MONAI_FUSION_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def run_name(task: str, model: str, seed: int) -> str:
    """``<task>_<model>_seed<k>``: the name of a run's folder and curve files."""
    return f"{task}_{model}_seed{seed}"


def network_def(model: str) -> dict[str, Any]:
    """The ``network_def`` of ``model``: a bundle's own (read from its ``train.json``) or a MONAI baseline."""
    spec = MODELS[model][1]
    if isinstance(spec, str) and spec.startswith("bundle:"):
        config = json.loads((BUNDLES / spec.split(":", 1)[1] / "configs" / "train.json").read_text())
        return config["network_def"]
    return dict(spec)


# ------------------------------------------------------------------------------------------------------ datalists
def build_task_datalist(task: Task, data_root: Path, out_dir: Path, split_seed: int) -> tuple[Path, dict[str, Any]]:
    """Build (once) and check the task's datalist with the project's builder; return its path and content.

    The JSON goes to ``<out_dir>/datalists/<task>_split<seed>.json``; an existing one is reused.
    """
    import monai_fusion.data as data

    path = out_dir / "datalists" / f"{task.name}_split{split_seed}.json"
    if not path.is_file():
        folder = data_root / task.folder
        if not folder.is_dir():
            raise SystemExit(f"{task.title}: no dataset at {folder} (--data-root or $MONAI_FUSION_DATA_DIR).")
        print(f"building the {task.name} datalist from {folder} ...", flush=True)
        datalist = getattr(data, task.builder)(folder, seed=split_seed, fractions=(0.8, 0.1, 0.1))
        data.validate_datalist(datalist, progress=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        data.save_datalist_json(datalist, tmp)
        os.replace(tmp, path)
    return path, json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------------------- runs
def settings_of(args: argparse.Namespace, task: Task) -> dict[str, Any]:
    """The run-defining settings of ``task`` under ``args`` (see :data:`SETTING_KEYS`)."""
    classification = task.kind == "classification"
    return {
        "host_bundle": args.classification_bundle if classification else SEGMENTATION_BUNDLE,
        "image_size": args.image_size,
        "max_train_items": args.max_train_items,
        "max_val_items": args.max_val_items,
        "max_epochs": args.max_epochs,
        "early_stop_patience": args.patience,
        "key_metric": args.key_metric if classification else "mean_dice",
        "batch_size": args.batch_size,
        "num_threads": args.num_threads,
        "num_workers": args.num_workers,
        "split_seed": args.split_seed,
    }


def settings_id(settings: dict[str, Any]) -> str:
    """Short hash of the settings (compared with runs.csv to decide what is already done)."""
    text = json.dumps({k: settings[k] for k in SETTING_KEYS}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def overrides(task: Task, model: str, seed: int, settings: dict[str, Any], datalist: dict[str, Any], run_dir: Path):
    """The overrides file of one run: everything the study changes in the host bundle's configs."""
    size = settings["image_size"]
    common: dict[str, Any] = {
        "datalist": str(datalist["path"]),
        "download": False,
        "seed": seed,
        "split_seed": settings["split_seed"],
        "max_train_items": settings["max_train_items"],
        "max_val_items": settings["max_val_items"],
        "max_epochs": settings["max_epochs"],
        "early_stop_patience": settings["early_stop_patience"],
        "num_threads": settings["num_threads"],
        "num_workers": settings["num_workers"],
        "ckpt_dir": str(run_dir / "models"),
        "output_dir": str(run_dir / "train"),
        "network_def": network_def(model),
    }
    if task.kind == "classification":
        common.update(
            {
                "class_names": list(datalist["class_names"]),
                "image_size": size,
                "key_metric": settings["key_metric"],
                "validate_data": False,  # checked once when the datalist was built
                "progress_bar": False,
                "tensorboard": False,
            }
        )
        if settings["batch_size"]:
            common.update({"train_batch_size": settings["batch_size"], "val_batch_size": settings["batch_size"]})
    else:
        common.update({"spatial_size": [size, size], "use_tensorboard": False})
        if settings["batch_size"]:
            common.update({"batch_size": settings["batch_size"], "val_batch_size": settings["batch_size"]})
    return common


def _run_process(command: list[str], log: Path, env: dict[str, str]) -> tuple[int, float, float]:
    """Run ``command`` with its output in ``log``; return (exit code, CPU seconds of it and its children, wall s)."""
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(REPO_ROOT))
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, also with several runs at once
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def _read_metrics(folder: Path) -> dict[str, float]:
    """``name -> value`` of the ``metrics.csv`` that MONAI's ``MetricsSaver`` wrote below ``folder``."""
    found = sorted(folder.rglob("metrics.csv"))
    if not found:
        return {}
    metrics = {}
    with open(found[0], newline="") as f:
        for row in csv.reader(f, delimiter="\t" if "\t" in found[0].read_text() else ","):
            if len(row) >= 2:
                try:
                    metrics[row[0]] = float(row[1])
                except ValueError:
                    continue
    return metrics


def read_curves(path: Path) -> list[dict[str, float]]:
    """Rows of a ``training_curves.csv`` as floats (empty cells become NaN)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in csv.DictReader(f)]


def run_one(
    task: Task, model: str, seed: int, settings: dict[str, Any], datalist: dict[str, Any], out_dir: Path
) -> dict[str, Any]:
    """Train and evaluate one (task, model, seed) through the host bundle; return its runs.csv row."""
    name = run_name(task.name, model, seed)
    run_dir = out_dir / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished earlier attempt starts again from scratch
    run_dir.mkdir(parents=True)
    override_file = run_dir / "overrides.json"
    override_file.write_text(json.dumps(overrides(task, model, seed, settings, datalist, run_dir), indent=4) + "\n")
    configs = BUNDLES / settings["host_bundle"] / "configs"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", str(settings["num_threads"]))

    def bundle(run_id: str, files: list[Path]) -> list[str]:
        config_files = "[" + ", ".join(repr(str(p)) for p in files) + "]"
        meta = ["--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf")]
        return [sys.executable, "-m", "monai.bundle", "run", run_id, "--config_file", config_files, *meta]

    train_cmd = bundle("training", [configs / "train.json", override_file])
    eval_cmd = bundle("evaluating", [configs / "train.json", configs / "evaluate.json", override_file])
    eval_cmd += ["--output_dir", str(run_dir / "evaluation")]
    (run_dir / "commands.sh").write_text("\n".join(shlex.join(c) for c in (train_cmd, eval_cmd)) + "\n")
    row: dict[str, Any] = {"task": task.name, "model": model, "seed": seed, **settings}
    row["settings_id"] = settings_id(settings)
    counts = {s: len(datalist[s]) for s in ("training", "validation", "test")}
    row["n_train"] = min(counts["training"], settings["max_train_items"] or counts["training"])
    row["n_val"] = min(counts["validation"], settings["max_val_items"] or counts["validation"])
    row["n_test"] = counts["test"]
    if task.kind == "classification" and settings["max_val_items"]:
        row["n_test"] = min(counts["test"], settings["max_val_items"])  # the bundles cap test with max_val_items

    code, row["train_cpu_s"], row["train_wall_s"] = _run_process(train_cmd, run_dir / "train.log", env)
    if code == 0:
        code, row["eval_cpu_s"], row["eval_wall_s"] = _run_process(eval_cmd, run_dir / "evaluate.log", env)
        failed_log = run_dir / "evaluate.log"
    else:
        failed_log = run_dir / "train.log"
    row["status"] = "ok" if code == 0 else "failed"
    if code != 0:
        row["error"] = " | ".join(failed_log.read_text(errors="replace").strip().splitlines()[-3:])[-500:]

    curves_dir = out_dir / "curves"
    curves_dir.mkdir(exist_ok=True)
    for suffix in (".png", ".csv"):
        source = run_dir / "train" / f"training_curves{suffix}"
        if source.is_file():
            shutil.copyfile(source, curves_dir / f"{name}{suffix}")
    curves = read_curves(run_dir / "train" / "training_curves.csv")
    key = VAL_KEY[task.kind]
    scored = [(r[key], int(r["epoch"])) for r in curves if not math.isnan(r.get(key, math.nan))]
    row["epochs_run"] = int(max((r["epoch"] for r in curves), default=0))
    if scored:
        best_val, best_epoch = max(scored, key=lambda v: (v[0], -v[1]))  # earliest epoch of the best value
        row["best_val"], row["best_epoch"] = best_val, best_epoch
    row["stopped_early"] = int(0 < row["epochs_run"] < settings["max_epochs"])
    metrics = _read_metrics(run_dir / "evaluation")
    for metric in CLASSIFICATION_METRICS if task.kind == "classification" else SEGMENTATION_METRICS:
        if f"test_{metric}" in metrics:
            row[f"test_{metric}"] = metrics[f"test_{metric}"]
    row["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    record = run_dir / "models" / "training_record.json"  # what was built (network_def, sizes): kept, it is small
    if record.is_file():
        shutil.copyfile(record, run_dir / record.name)
    if not settings.get("keep_checkpoints"):
        # the resumable checkpoints (weights + optimiser state, up to 1.4 GB) are not needed once evaluated; the
        # selected weights (models/model.pt) and their training record stay, for --install-weights
        for path in (run_dir / "models").glob("*"):
            if path.name not in ("model.pt", "training_record.json"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
    return row


# ------------------------------------------------------------------------------------------------------- runs.csv
def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of an existing ``runs.csv`` (values as strings)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``runs.csv`` atomically, sorted by task, model and seed."""
    order = {t: i for i, t in enumerate(TASKS)}
    models = {m: i for i, m in enumerate(MODELS)}
    ordered = sorted(rows, key=lambda r: (order.get(r["task"], 99), models.get(r["model"], 99), int(r["seed"])))
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in ordered:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
    os.replace(tmp, path)


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


# -------------------------------------------------------------------------------------------------------- report
def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def mean_sd(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean and sample sd (n - 1; NaN for one value) of the non-NaN values, and their number."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan, math.nan, 0
    return statistics.fmean(kept), statistics.stdev(kept) if len(kept) > 1 else math.nan, len(kept)


def format_mean_sd(values: Sequence[float], digits: int = 3) -> str:
    mean, sd, n = mean_sd(values)
    if n == 0:
        return "—"
    return f"{mean:.{digits}f}" if math.isnan(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def equal_epoch_values(curves: list[dict[str, float]], key: str, epoch: int) -> float:
    """The validation key metric at ``epoch`` (NaN when that epoch was not validated)."""
    for r in curves:
        if int(r["epoch"]) == epoch:
            return r.get(key, math.nan)
    return math.nan


def best_within_cpu(curves: list[dict[str, float]], key: str, cpu_s: float) -> float:
    """The best validation key metric among the epochs that ended within ``cpu_s`` CPU-seconds of training."""
    values = [r[key] for r in curves if r.get("cpu_s", math.inf) <= cpu_s and not math.isnan(r.get(key, math.nan))]
    return max(values) if values else math.nan


def environment(args: argparse.Namespace, command: str) -> dict[str, str]:
    """Hardware, versions and settings for the report header."""
    import monai
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "hardware": f"{cpu}, {os.cpu_count()} logical CPUs; {args.jobs} run(s) at once, "
        f"{args.num_threads} torch thread(s) and {args.num_workers} data-loader worker(s) per run",
        "load average at the start (1, 5, 15 min)": load,
        "software": f"Python {platform.python_version()}, torch {torch.__version__}, MONAI {monai.__version__}",
        "resolution": f"{args.image_size} x {args.image_size} px",
        "seeds": " ".join(str(s) for s in args.seeds) + f" (split seed {args.split_seed})",
        "training": f"at most {args.max_epochs} epochs, early stop after {args.patience} validations without "
        f"improvement of the key metric ({args.key_metric} for classification, mean Dice for segmentation); "
        f"training items {args.max_train_items or 'all'}, validation / test items {args.max_val_items or 'all'}",
        "recipes": f"classification: the `{args.classification_bundle}` bundle's train.json and evaluate.json with "
        f"network_def swapped; segmentation: the `{SEGMENTATION_BUNDLE}` bundle's",
    }


def plot_task(
    task: Task, curves: dict[str, list[tuple[dict[str, Any], list[dict[str, float]]]]], path: Path, ylabel: str
) -> bool:
    """One figure per task: the validation key metric of every run against the epoch and against training CPU
    minutes (validation included), so both comparisons of ``results.md`` can be seen at once. Returns False when
    there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = VAL_KEY[task.kind]
    drawn = False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for index, (model, runs) in enumerate(curves.items()):
        colour = plt.get_cmap("tab10")(index % 10)
        for n, (_row, points) in enumerate(runs):
            points = [p for p in points if math.isfinite(p.get(key, math.nan))]
            if not points:
                continue
            label = MODELS[model][0].split(" (")[0] if n == 0 else None
            values = [p[key] for p in points]
            axes[0].plot([p["epoch"] for p in points], values, "o-", color=colour, label=label, ms=3)
            axes[1].plot([p["cpu_s"] / 60 for p in points], values, "o-", color=colour, ms=3)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    axes[0].set(xlabel="epoch", ylabel=ylabel, title=f"{task.title}: equal epochs")
    axes[1].set(xlabel="training CPU-minutes (validation included)", title="equal CPU time")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_markdown(path: Path, rows: Sequence[dict[str, Any]], env: dict[str, str], out_dir: Path) -> None:
    """``results.md``: environment, then per task the test metrics, equal-epoch and equal-CPU tables."""
    lines = ["# Accuracy study of the bundles", ""]
    lines += [
        "**This is not the papers' setting.** The papers train at 224 px (or more), from ImageNet-pretrained weights, "
        "for hundreds of epochs on GPUs (GPU-days). These runs are on CPU, from scratch, at the resolution below, on "
        "subsets and with an epoch cap, through the bundles' own recipes. They compare the networks under one small, "
        "stated budget; they do not reproduce or refute the published accuracies.",
        "",
    ]
    lines += [f"- **{k}**: `{v}`" if k == "command" else f"- **{k}**: {v}" for k, v in env.items()]
    lines += [
        "",
        "Test values are mean ± sample sd over the seeds, on the held-out test split, with the weights of the ",
    ]
    lines[-1] += "best validation epoch (the bundles' `model.pt`). Failed runs are listed in `runs.csv` only."
    lines.append("")
    ok = [r for r in rows if r.get("status") == "ok"]
    for task in TASKS.values():
        task_rows = [r for r in ok if r["task"] == task.name]
        if not task_rows:
            continue
        models = [m for m in MODELS if any(r["model"] == m for r in task_rows)]
        metrics = CLASSIFICATION_METRICS[:3] if task.kind == "classification" else SEGMENTATION_METRICS
        n_test = task_rows[0]["n_test"]
        lines += [f"## {task.title}", "", f"Test split: {n_test} images, grouped by {task.split_note}.", ""]
        header = ["Model", *(METRIC_TITLES[m] for m in metrics), "Epochs run", "Best epoch", "Stopped early"]
        header += ["Train CPU-s", "Seeds"]
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        curves: dict[str, list[tuple[dict[str, Any], list[dict[str, float]]]]] = {}
        for model in models:
            mrows = [r for r in task_rows if r["model"] == model]
            cells = [MODELS[model][0]]
            cells += [format_mean_sd([_float(r.get(f"test_{m}")) for r in mrows]) for m in metrics]
            cells += [format_mean_sd([_float(r["epochs_run"]) for r in mrows], 1)]
            cells += [format_mean_sd([_float(r["best_epoch"]) for r in mrows], 1)]
            cells += [f"{sum(int(_float(r['stopped_early']) == 1) for r in mrows)} / {len(mrows)}"]
            cells += [f"{mean_sd([_float(r['train_cpu_s']) for r in mrows])[0]:.0f}", str(len(mrows))]
            lines.append("| " + " | ".join(cells) + " |")
            curves[model] = [
                (r, read_curves(out_dir / "curves" / f"{run_name(task.name, model, int(r['seed']))}.csv"))
                for r in mrows
            ]
        key = VAL_KEY[task.kind]
        key_title = f"validation {'mean Dice' if task.kind == 'segmentation' else task_rows[0]['key_metric']}"
        finished = [int(max((c["epoch"] for c in cv), default=0)) for runs in curves.values() for _, cv in runs]
        epoch = min(finished) if finished else 0
        final_cpu = [cv[-1]["cpu_s"] for runs in curves.values() for _, cv in runs if cv]
        budget = min(final_cpu) if final_cpu else math.nan
        if plot_task(task, curves, out_dir / "curves" / f"{task.name}_comparison.png", key_title.replace("_", " ")):
            lines += ["", f"![{task.title}: validation curves](curves/{task.name}_comparison.png)"]
        lines += ["", f"At equal epochs (epoch {epoch}, the last one every run reached) and at equal CPU time "]
        lines[-1] += (
            f"({budget:.0f} CPU-s of training, the shortest run; best {key_title} among the epochs that ended "
            "within it, from the per-epoch CPU clocks of `curves/*.csv`, validation included; — = no epoch ended "
            "in time):"
        )
        lines += ["", f"| Model | {key_title} at epoch {epoch} | best {key_title} within {budget:.0f} CPU-s |"]
        lines += ["|---|---:|---:|"]
        for model, runs in curves.items():
            at_epoch = [equal_epoch_values(cv, key, epoch) for _, cv in runs]
            within = [best_within_cpu(cv, key, budget) for _, cv in runs]
            lines.append(f"| {MODELS[model][0]} | {format_mean_sd(at_epoch)} | {format_mean_sd(within)} |")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------------------- main
def estimate_cpu_s(model: str, n_train: int, n_val: int, n_test: int, size: int, epochs: int) -> float:
    """A rough upper bound of one run's CPU-seconds (all ``epochs``; early stopping ends sooner).

    Training images cost :data:`_COST_MS_96` each (scaled by the pixel count), validation images a third of that,
    test images a third (classification) or 0.6 (segmentation: evaluated at the original size, with HD95).
    """
    seconds = _COST_MS_96[model] * (size / 96) ** 2 / 1000
    test_share = 0.6 if model in SEGMENTATION_MODELS else 1 / 3
    return _STARTUP_CPU_S + seconds * epochs * (n_train + n_val / 3) + seconds * test_share * n_test


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS), help="tasks (default: all)")
    parser.add_argument("--models", nargs="+", default=None, choices=list(MODELS), help="models (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--image-size", type=int, default=96, help="square input size, divisible by 32 (default 96)")
    parser.add_argument("--max-epochs", type=int, default=10, help="epoch cap (default 10)")
    parser.add_argument("--patience", type=int, default=3, help="early_stop_patience (validations; default 3)")
    parser.add_argument("--max-train-items", type=int, default=500, help="training subset (default 500; 0: all)")
    parser.add_argument(
        "--max-val-items", type=int, default=0, help="validation (and classification test) subset (default 0: all)"
    )
    parser.add_argument("--key-metric", default="balanced_accuracy", help="classification key metric (selection)")
    parser.add_argument("--batch-size", type=int, default=0, help="batch size (default 0: the bundles' own)")
    parser.add_argument("--num-threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--num-workers", type=int, default=0, help="data-loader workers per run (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, each its own process (default 2)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the grouped split (default 0, as bundles)")
    parser.add_argument(
        "--classification-bundle",
        default="hifuse",
        choices=CLASSIFICATION_BUNDLES,
        help="the bundle whose recipe all classification runs use (default hifuse)",
    )
    parser.add_argument("--data-root", type=Path, default=None, help="folder with the datasets (../shared/data)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=REPO_ROOT.parent / "study_results",
        help="the study folder, outside the repository (default: study_results beside it)",
    )
    parser.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep each run's whole models/ folder (default: only model.pt and training_record.json)",
    )
    parser.add_argument(
        "--install-weights",
        action="store_true",
        help="then copy each selected run's model.pt and training_record.json into bundles/<bundle>/models/ (one "
        "run per bundle; a run whose weights were not kept is trained again; files already there are renamed)",
    )
    parser.add_argument("--plan", action="store_true", help="print the runs and a rough cost, run nothing")
    parser.add_argument(
        "--report", action="store_true", help="rewrite results.md from runs.csv (and curves/), run nothing"
    )
    args = parser.parse_args(argv)
    args.max_train_items = args.max_train_items or None
    args.max_val_items = args.max_val_items or None
    if args.image_size % 32:
        parser.error("--image-size must be divisible by 32 (the networks downsample by 32).")
    if args.install_weights:
        models = args.models or list(MODELS)
        baselines = [m for m in models if m not in MODEL_BUNDLES]
        if args.models is None or baselines:
            parser.error(
                "--install-weights fills bundles/<bundle>/models/, so name the fusion networks with --models "
                f"({' '.join(MODEL_BUNDLES)}); the baselines {baselines or list(MODELS)} have no bundle."
            )
    return args


def matches_metadata(bundle_dir: Path, class_names: Sequence[str] | None) -> bool:
    """Whether weights trained on ``class_names`` fit the bundle's ``metadata.json`` (``pred`` channels and their
    names). ``None`` (segmentation: the record has no class names) compares the channel count only."""
    meta = json.loads((bundle_dir / "configs" / "metadata.json").read_text())
    pred = meta["network_data_format"]["outputs"]["pred"]
    if class_names is None:
        return True
    channel_def = pred.get("channel_def") or {}
    named = [channel_def.get(str(i)) for i in range(len(class_names))]
    return len(class_names) == pred["num_channels"] and named == list(class_names)


def install_weights(
    run_dir: Path, row: dict[str, Any], command: str, bundles_dir: Path | None = None
) -> tuple[Path, list[Path]]:
    """Copy a finished run's ``model.pt`` and ``training_record.json`` into its bundle.

    The destination is the bundle's ``models/`` when the run's classes are the ones ``metadata.json`` describes
    (``models/model.pt`` is what the bundle zip carries and what the model zoo's checks compare with the metadata);
    otherwise ``models/<task>/``, used with ``--ckpt_dir``, so that the bundle stays consistent (e.g. a HAM10000 run
    of CDFINet, whose bundle describes 8 Kvasir v1 classes). The record gains a ``study_run`` entry (run, settings,
    test metrics, the command), so the bundle's inference reads the class names, image size and normalisation the
    weights were trained with, and a reader of the record sees where they came from. Files already there are renamed
    ``<name>.replaced-<UTC time><suffix>``, never overwritten.

    Returns:
        the destination folder and the renamed files.
    """
    source = run_dir / "models"
    weights = source / "model.pt"
    if not weights.is_file():
        raise SystemExit(f"{weights} is missing: run the study command again with --install-weights to retrain it.")
    record_path = source / "training_record.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    bundle_dir = (bundles_dir or INSTALL_ROOT) / MODEL_BUNDLES[row["model"]]
    dest = bundle_dir / "models"
    if not matches_metadata(bundle_dir, record.get("class_names")):
        dest = dest / row["task"]
    dest.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    renamed = []
    for name in ("model.pt", "training_record.json"):
        target = dest / name
        if target.exists():
            backup = target.with_name(f"{target.stem}.replaced-{stamp}{target.suffix}")
            os.replace(target, backup)
            renamed.append(backup)
    shutil.copyfile(weights, dest / "model.pt")
    metrics = CLASSIFICATION_METRICS if TASKS[row["task"]].kind == "classification" else SEGMENTATION_METRICS

    def _value(value: Any) -> Any:  # runs.csv gives strings: numbers back as numbers, "" as None
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            return value
        for kind in (int, float):
            try:
                return kind(value)
            except (TypeError, ValueError):
                continue
        return value

    keys = ("task", "model", "seed", "settings_id", *SETTING_KEYS, "epochs_run", "best_epoch", "best_val")
    record["study_run"] = {
        "run": run_name(row["task"], row["model"], int(row["seed"])),
        "command": command,
        **{k: _value(row.get(k)) for k in keys},
        "finished": row.get("finished"),
        **{f"test_{m}": _value(row.get(f"test_{m}")) for m in metrics},
    }
    # 4-space indented like the bundle's own record (the model zoo's JSON style check)
    (dest / "training_record.json").write_text(json.dumps(record, indent=4, default=str) + "\n")
    return dest, renamed


def report_rows(rows: Sequence[dict[str, Any]], current: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The finished rows results.md covers: per task in ``current`` those of its ``(task, settings_id)``, per other
    task those with the settings of its most recently finished run (runs.csv may hold older settings too)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    keys = set(current)
    planned = {task for task, _ in current}
    for task in TASKS:
        task_rows = [r for r in ok if r["task"] == task]
        if task not in planned and task_rows:
            keys.add((task, max(task_rows, key=lambda r: str(r.get("finished", "")))["settings_id"]))
    return [r for r in ok if (r["task"], r["settings_id"]) in keys]


def main(argv: Sequence[str] | None = None) -> Path:
    """Run (or plan) the study; return the output folder."""
    args = parse_args(argv)
    command = "python scripts/study.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    out_dir = Path(args.output_dir).resolve()
    if out_dir == REPO_ROOT or REPO_ROOT in out_dir.parents:
        raise SystemExit(f"--output-dir {out_dir} is inside the repository; choose a folder outside it.")
    data_root = args.data_root or default_data_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "runs.csv", out_dir / "results.md"
    rows = read_rows(csv_path)
    done = {(r["task"], r["model"], str(r["seed"]), r["settings_id"]) for r in rows if r.get("status") == "ok"}

    plan = []
    for name in args.tasks:
        task = TASKS[name]
        candidates = CLASSIFICATION_MODELS if task.kind == "classification" else SEGMENTATION_MODELS
        models = [m for m in candidates if args.models is None or m in args.models]
        if not models:
            continue
        path, datalist = build_task_datalist(task, data_root, out_dir, args.split_seed)
        datalist["path"] = path
        settings = settings_of(args, task)
        settings["keep_checkpoints"] = args.keep_checkpoints
        for model in models:
            for seed in args.seeds:
                finished = (name, model, str(seed), settings_id(settings)) in done
                weights = out_dir / "runs" / run_name(name, model, seed) / "models" / "model.pt"
                if finished and args.install_weights and not args.report and not weights.is_file():
                    print(f"{run_name(name, model, seed)}: finished, but its weights were not kept: it runs again")
                    finished = False
                plan.append((task, model, seed, settings, datalist, finished))
    if not plan:
        raise SystemExit("no run selected: --models names no model of the chosen --tasks.")
    targets = [MODEL_BUNDLES.get(p[1]) for p in plan]
    if args.install_weights and len(set(targets)) < len(targets):
        raise SystemExit(
            "--install-weights copies ONE run into each bundle's models/, and this command selects several runs of "
            "one network: give one task and one seed, e.g. --tasks ham10000 --models hifuse --seeds 0."
        )

    todo = [p for p in plan if not p[5]]
    total = 0.0
    print(f"{len(plan)} run(s), {len(plan) - len(todo)} already in {csv_path}, {len(todo)} to run:")
    for task, model, seed, _, datalist, finished in plan:
        n_train = min(len(datalist["training"]), args.max_train_items or 10**9)
        n_val = min(len(datalist["validation"]), args.max_val_items or 10**9)
        cap = args.max_val_items if task.kind == "classification" and args.max_val_items else 10**9
        n_test = min(len(datalist["test"]), cap)
        cost = estimate_cpu_s(model, n_train, n_val, n_test, args.image_size, args.max_epochs)
        total += 0.0 if finished else cost
        state = "done" if finished else f"~{cost / 60:.0f} CPU-min at most"
        print(f"  {run_name(task.name, model, seed)}: {n_train} train / {n_val} val / {n_test} test images, {state}")
    print(
        f"rough upper bound of what is left: {total / 3600:.1f} CPU-hours, about {total / 3600 / args.jobs:.1f} h of "
        f"wall time with --jobs {args.jobs} (early stopping usually ends runs sooner)",
        flush=True,
    )
    if args.plan:
        return out_dir
    current = {(p[0].name, settings_id(p[3])) for p in plan}  # the report: this command's settings, other tasks'
    env = environment(args, command)
    if args.report:
        write_markdown(md_path, report_rows(rows, current), env, out_dir)
        print(f"wrote {md_path}")
        return out_dir

    lock = threading.Lock()
    kept = [r for r in rows if (r["task"], r["model"], str(r["seed"]), r["settings_id"]) in done]
    counter = {"n": 0}

    def _one(item: tuple) -> None:
        task, model, seed, settings, datalist, _ = item
        row = run_one(task, model, seed, settings, datalist, out_dir)
        with lock:
            # replace any earlier row of this run (an older setting or a failure)
            kept[:] = [r for r in kept if (r["task"], r["model"], str(r["seed"])) != (task.name, model, str(seed))]
            kept.append(row)
            write_rows(csv_path, kept)
            counter["n"] += 1
            metric = "balanced_accuracy" if task.kind == "classification" else "mean_dice"
            result = f"test {metric} {row.get(f'test_{metric}', math.nan):.3f}" if row["status"] == "ok" else "FAILED"
            print(
                f"[{counter['n']}/{len(todo)}] {run_name(task.name, model, seed)}: {result}, "
                f"{row['epochs_run']} epoch(s) (best {row.get('best_epoch', '-')}"
                f"{', stopped early' if row['stopped_early'] else ''}), train {row['train_cpu_s']:.0f} CPU-s / "
                f"{row['train_wall_s']:.0f} s wall" + (f"; {row['error']}" if row["status"] != "ok" else ""),
                flush=True,
            )

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(_one, todo))
    write_rows(csv_path, kept)
    write_markdown(md_path, report_rows(read_rows(csv_path), current), env, out_dir)
    print(f"wrote {csv_path} and {md_path}")
    if args.install_weights:
        by_run = {(r["task"], r["model"], str(r["seed"])): r for r in kept if r.get("status") == "ok"}
        for task, model, seed, _, _, _ in plan:
            row = by_run.get((task.name, model, str(seed)))
            if row is None:
                name = run_name(task.name, model, seed)
                raise SystemExit(
                    f"{name} failed, so no weights were installed. Its error is in the `error` column of {csv_path} "
                    f"and in {out_dir / 'runs' / name / 'train.log'}; fix it and run this command again."
                )
            dest, renamed = install_weights(out_dir / "runs" / run_name(task.name, model, seed), row, command)
            for path in renamed:
                print(f"the earlier file is kept as {path}")
            metric = "balanced_accuracy" if task.kind == "classification" else "mean_dice"
            print(
                f"installed {run_name(task.name, model, seed)} (test {metric} {_float(row.get(f'test_{metric}')):.3f})"
                f" into {dest}: model.pt and training_record.json"
            )
            if dest.name != "models":
                print(
                    f"  its classes are not the ones {dest.parent.parent.name}'s metadata.json describes, so it is not "
                    "the bundle's models/model.pt (which the bundle zip and the model zoo's checks take); use it with "
                    f"--ckpt_dir {dest}"
                )
    return out_dir


if __name__ == "__main__":
    main()
