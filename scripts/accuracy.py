#!/usr/bin/env python
# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Accuracy under a fixed CPU-time budget: every network and the MONAI baselines trained from scratch with one recipe.

Protocol (``docs/accuracy.md`` explains each choice):

* tasks: HAM10000 7-class (lesion-grouped split), Kermany chest X-ray NORMAL/PNEUMONIA (patient-grouped), COVID-CT
  (grouped by source paper / figure), and Kvasir-SEG polyp segmentation. The datalists come from the project's
  builders (``monai_fusion.data``) with split seed 0 and 0.8/0.1/0.1 fractions, i.e. the split the bundles use.
  Training uses the ``training`` section, results are on the ``test`` section; ``validation`` is not used (the final
  weights are evaluated, no model selection).
* data: every image is decoded once, converted to RGB (grey images repeated to 3 channels, alpha dropped, as
  ``EnsureRGB`` does), resized (squashed, antialiased bilinear) to ``--image-size`` and cached as uint8 ``.npz`` under
  ``--cache-dir``; all models and seeds read the same arrays. Kvasir-SEG masks are resized the same way and
  binarised at 128.
* models, all from scratch (no pretrained weights): CDFINet, HiFuse-T, MFSF2Net, MedMamba-T and MONAI's DenseNet121
  and ResNet-50 for classification; MFSF2NetSeg, MONAI UNet and FlexibleUNet (EfficientNet-B0 encoder) for
  segmentation.
* recipe, identical for all: AdamW (lr ``--lr``, weight decay ``--weight-decay`` on weights, none on norms and
  biases), batch ``--batch-size``, random horizontal and vertical flips, intensities scaled to [-1, 1]; a learning
  rate that warms up linearly over the first ``--warmup-fraction`` of the budget and then follows a cosine to 0 at the
  end of the budget (the schedule runs on CPU time, since the number of steps is not known in advance).
  Classification loss: class-weighted cross-entropy (``monai_fusion.data.class_weights``, the HiFuse and MFSF2-Net
  bundles' default ``weighted_loss``). Segmentation loss: ``DiceCELoss(sigmoid=True)``; MFSF2NetSeg trains its 5 side
  outputs with ``DeepSupervisionLoss(weight_mode="exp")`` as its bundle does, and is evaluated on its main output.
* budget: training stops when the process CPU time (``time.process_time``, one thread per run) spent on training
  steps would pass ``--budget-cpu-s`` with one more step (at least one step is always made). Model construction and
  evaluation are outside the budget and are recorded separately, with wall time, steps, images seen and epochs.
* metrics on the test split: balanced accuracy, macro F1 and macro AUC from
  ``monai_fusion.handlers.ClassificationMetric`` (plus accuracy); per-image mean Dice and IoU from MONAI's
  ``DiceMetric`` and ``MeanIoU`` after sigmoid > 0.5.
* output: ``runs.csv`` (one row per (task, model, seed), rewritten after every run) and ``results.md`` (mean ± sample
  sd over seeds per task, with the hardware, versions, budget and the exact command) in ``--output-dir``.

Usage::

    python scripts/accuracy.py                                    # the published run (all tasks, 3 seeds)
    python scripts/accuracy.py --tasks covid_ct --models densenet121 cdfinet --seeds 0 --budget-cpu-s 10
    python scripts/accuracy.py --resume                           # continue an interrupted run
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.thread import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]

CLASSIFICATION_METRICS = ("balanced_accuracy", "macro_f1", "macro_auc", "accuracy")
SEGMENTATION_METRICS = ("dice", "iou")
METRIC_TITLES = {
    "balanced_accuracy": "Balanced acc.",
    "macro_f1": "Macro F1",
    "macro_auc": "Macro AUC",
    "accuracy": "Accuracy",
    "dice": "Dice",
    "iou": "IoU",
}
MODEL_TITLES = {
    "cdfinet": "CDFINet",
    "hifuse_tiny": "HiFuse-T",
    "mfsf2net": "MFSF2Net",
    "medmamba_tiny": "MedMamba-T",
    "densenet121": "DenseNet121 (MONAI, baseline)",
    "resnet50": "ResNet-50 (MONAI, baseline)",
    "mfsf2net_seg": "MFSF2NetSeg",
    "unet": "UNet (MONAI, baseline)",
    "flexible_unet": "FlexibleUNet EfficientNet-B0 (MONAI, baseline)",
}
CLASSIFICATION_MODELS = ("cdfinet", "hifuse_tiny", "mfsf2net", "medmamba_tiny", "densenet121", "resnet50")
SEGMENTATION_MODELS = ("mfsf2net_seg", "unet", "flexible_unet")
# relative evaluation cost per image (measured at 64 px); only used to start the longest runs first
_COST_HINT = {
    "hifuse_tiny": 10.0,
    "mfsf2net": 8.5,
    "mfsf2net_seg": 7.0,
    "resnet50": 7.0,
    "medmamba_tiny": 4.5,
    "cdfinet": 3.7,
    "flexible_unet": 1.5,
    "densenet121": 1.4,
    "unet": 0.4,
}
# run-defining settings: rows of runs.csv are reused by --resume only when all of these match
CONFIG_KEYS = (
    "image_size",
    "budget_cpu_s",
    "max_steps",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_fraction",
    "split_seed",
    "limit",
)
CSV_COLUMNS = (
    "task",
    "model",
    "seed",
    *CONFIG_KEYS,
    "params",
    "n_train",
    "n_test",
    "steps",
    "images_seen",
    "epochs",
    "train_cpu_s",
    "train_wall_s",
    "build_cpu_s",
    "eval_cpu_s",
    "eval_wall_s",
    "final_loss",
    "nonfinite_loss",
    *CLASSIFICATION_METRICS,
    *SEGMENTATION_METRICS,
)


@dataclass(frozen=True)
class Task:
    """One dataset of the comparison.

    Args:
        name: task key used on the command line and in the outputs.
        title: human-readable name.
        kind: ``"classification"`` or ``"segmentation"``.
        folder: the dataset folder below the data root.
        builder: name of the datalist builder in ``monai_fusion.data``.
        split_note: how the split is grouped.
    """

    name: str
    title: str
    kind: str
    folder: str
    builder: str
    split_note: str

    @property
    def models(self) -> tuple[str, ...]:
        return CLASSIFICATION_MODELS if self.kind == "classification" else SEGMENTATION_MODELS


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
        Task(
            "covid_ct",
            "COVID-CT, 2 classes",
            "classification",
            "covid_ct",
            "build_covid_ct_datalist",
            "source paper / figure",
        ),
        Task(
            "kvasir_seg",
            "Kvasir-SEG polyp segmentation",
            "segmentation",
            "kvasir_seg",
            "build_kvasir_seg_datalist",
            "image",
        ),
    )
}


def default_data_root() -> Path:
    """``$MONAI_FUSION_DATA_DIR``, else ``../shared/data`` beside the repository (as the tests look for it)."""
    env = os.environ.get("MONAI_FUSION_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def default_cache_dir() -> Path:
    """``~/.cache/monai_fusion/accuracy``."""
    return Path.home() / ".cache" / "monai_fusion" / "accuracy"


# ----------------------------------------------------------------------------------------------------------- data
def _limit_items(items: list[dict[str, Any]], limit: int | None, by_label: bool) -> list[dict[str, Any]]:
    """At most ``limit`` items; for classification taken round-robin over the classes so that each one appears."""
    if limit is None or len(items) <= limit:
        return items
    if not by_label:
        return items[:limit]
    per_class: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        per_class.setdefault(int(item["label"]), []).append(item)
    queues = [per_class[k] for k in sorted(per_class)]
    picked: list[dict[str, Any]] = []
    depth = 0
    while len(picked) < limit:
        for queue in queues:
            if depth < len(queue) and len(picked) < limit:
                picked.append(queue[depth])
        depth += 1
    return picked


def _rgb_uint8(path: str, size: int) -> np.ndarray:
    """Decode ``path``, convert to RGB uint8 (grey repeated, alpha dropped) and resize to ``size`` x ``size``."""
    from PIL import Image

    with Image.open(path) as img:
        if img.mode in ("I", "I;16", "I;16B", "F"):  # high bit depth: rescale to 8 bits first
            arr = np.asarray(img, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            img = Image.fromarray(np.uint8(np.round(255 * (arr - lo) / max(hi - lo, 1e-8))))
        return np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _mask_uint8(path: str, size: int) -> np.ndarray:
    """Decode a (possibly JPEG, 3-channel) mask, resize its first channel and binarise at 128 -> {0, 1}."""
    from PIL import Image

    with Image.open(path) as img:
        first = img.getchannel(0) if img.mode not in ("L", "1") else img.convert("L")
        resized = np.asarray(first.resize((size, size), Image.BILINEAR))
    return (resized >= 128).astype(np.uint8)


def build_datalist(task: Task, data_root: Path, split_seed: int) -> dict[str, Any]:
    """The task's datalist from the project's builder (grouped, stratified split with ``split_seed``)."""
    import monai_fusion.data as mf_data

    folder = data_root / task.folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist: the {task.title} data is expected there. Pass --data-root (or set "
            "MONAI_FUSION_DATA_DIR) to the folder that holds "
            f"{task.folder}/, or leave {task.name!r} out of --tasks."
        )
    return getattr(mf_data, task.builder)(str(folder), seed=split_seed, fractions=(0.8, 0.1, 0.1))


def prepare_cache(
    task: Task, data_root: Path, cache_dir: Path, size: int, split_seed: int, limit: int | None, workers: int = 2
) -> Path:
    """Decode and resize the training and test images of ``task`` once; return the ``.npz`` path (reused if present).

    The file name carries the size, split seed, limit and a hash of the file list and labels, so a changed dataset or
    split gets a new cache.
    """
    datalist = build_datalist(task, data_root, split_seed)
    is_cls = task.kind == "classification"
    sections = {s: _limit_items(list(datalist[s]), limit, by_label=is_cls) for s in ("training", "test")}
    digest = hashlib.sha1()
    for section, items in sections.items():
        for item in items:
            digest.update(f"{section}|{item['image']}|{item['label']}\n".encode())
    tag = f"{task.name}_{size}px_split{split_seed}_{'all' if limit is None else f'limit{limit}'}"
    path = Path(cache_dir).expanduser() / f"{tag}_{digest.hexdigest()[:12]}.npz"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL releases the GIL while decoding and resizing
        for section, items in sections.items():
            key = "train" if section == "training" else "test"
            arrays[f"{key}_x"] = np.stack(list(pool.map(lambda it: _rgb_uint8(it["image"], size), items)))
            if is_cls:
                arrays[f"{key}_y"] = np.asarray([int(it["label"]) for it in items], dtype=np.int64)
            else:
                arrays[f"{key}_y"] = np.stack(list(pool.map(lambda it: _mask_uint8(it["label"], size), items)))
    if is_cls:
        names = datalist["class_names"]
        arrays["class_names"] = np.asarray([str(n) for n in names])
        # inverse-frequency weights of the (possibly limited) training labels, as the bundles' weighted_loss
        from monai_fusion.data import class_weights

        train_items = {"training": sections["training"], "class_names": names, "num_classes": len(names)}
        arrays["class_weights"] = class_weights(train_items).numpy()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    n_images = sum(len(items) for items in sections.values())
    print(f"cached {n_images} images of {task.name} in {time.perf_counter() - start:.1f} s: {path}", flush=True)
    return path


# ------------------------------------------------------------------------------------------------------- networks
def build_network(name: str, out_channels: int) -> Any:
    """Construct a model from scratch (no pretrained weights) with 3 input channels."""
    from monai.networks.nets import DenseNet121, FlexibleUNet, UNet, resnet50

    from monai_fusion.networks.nets import NETWORK_VARIANTS

    if name == "densenet121":
        return DenseNet121(spatial_dims=2, in_channels=3, out_channels=out_channels)
    if name == "resnet50":
        return resnet50(spatial_dims=2, n_input_channels=3, num_classes=out_channels)
    if name == "unet":
        return UNet(
            spatial_dims=2,
            in_channels=3,
            out_channels=out_channels,
            channels=(16, 32, 64, 128, 256),
            strides=(2, 2, 2, 2),
            num_res_units=2,
        )
    if name == "flexible_unet":
        return FlexibleUNet(
            in_channels=3, out_channels=out_channels, backbone="efficientnet-b0", pretrained=False, spatial_dims=2
        )
    if name in ("mfsf2net", "mfsf2net_seg"):
        return NETWORK_VARIANTS[name](in_channels=3, out_channels=out_channels, pretrained=False)
    if name in NETWORK_VARIANTS:
        return NETWORK_VARIANTS[name](in_channels=3, out_channels=out_channels)
    raise ValueError(f"unknown model {name!r}; choose from {sorted(MODEL_TITLES)}.")


# ------------------------------------------------------------------------------------------------------ one run
def lr_factor(fraction: float, warmup_fraction: float) -> float:
    """Learning-rate multiplier at ``fraction`` of the budget: linear warm-up from 0.1, then cosine to 0."""
    fraction = min(max(fraction, 0.0), 1.0)
    if warmup_fraction > 0 and fraction < warmup_fraction:
        return 0.1 + 0.9 * fraction / warmup_fraction
    progress = (fraction - warmup_fraction) / max(1.0 - warmup_fraction, 1e-12)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _normalise(x_uint8: Any) -> Any:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [-1, 1]."""
    return x_uint8.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def _random_flips(x: Any, y: Any | None, generator: Any) -> tuple[Any, Any | None]:
    """Flip each image (and its mask) horizontally and vertically with probability 0.5 each."""
    import torch

    for dim in (-1, -2):
        flip = torch.rand(x.shape[0], generator=generator) < 0.5
        if flip.any():
            x[flip] = x[flip].flip(dim)
            if y is not None:
                y[flip] = y[flip].flip(dim)
    return x, y


def run_one(config: dict[str, Any]) -> dict[str, Any]:
    """Train one (task, model, seed) under the CPU budget, evaluate on the test split, return the CSV row.

    A failure is re-raised naming the run (the worker's traceback follows it).
    """
    try:
        return _train_and_evaluate(config)
    except Exception as err:
        name = f"{config['task']} / {config['model']} / seed {config['seed']}"
        raise RuntimeError(f"run {name} failed: {type(err).__name__}: {err}") from err


def _train_and_evaluate(config: dict[str, Any]) -> dict[str, Any]:
    import torch
    from monai.losses import DeepSupervisionLoss, DiceCELoss
    from monai.metrics import DiceMetric, MeanIoU
    from monai.utils import set_determinism

    from monai_fusion.bundle_utils import no_decay_param_groups
    from monai_fusion.handlers import ClassificationMetric

    torch.set_num_threads(1)
    task = TASKS[config["task"]]
    is_cls = task.kind == "classification"
    seed = int(config["seed"])
    set_determinism(seed=seed)  # network init, dropout / drop-path
    generator = torch.Generator().manual_seed(seed)  # data order and flips
    with np.load(config["cache"]) as data:
        arrays = {k: data[k] for k in data.files}
    train_x, test_x = torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["test_x"])
    train_y, test_y = torch.from_numpy(arrays["train_y"]), torch.from_numpy(arrays["test_y"])
    out_channels = len(arrays["class_names"]) if is_cls else 1

    cpu0 = time.process_time()
    model = build_network(config["model"], out_channels)
    build_cpu = time.process_time() - cpu0
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    optimizer = torch.optim.AdamW(
        no_decay_param_groups(model, config["weight_decay"]), lr=config["lr"], weight_decay=config["weight_decay"]
    )
    if is_cls:
        loss_fn: Callable = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(arrays["class_weights"]).float())
    else:
        dice_ce = DiceCELoss(sigmoid=True, lambda_dice=1.0, lambda_ce=1.0)
        loss_fn = DeepSupervisionLoss(dice_ce, weight_mode="exp") if config["model"] == "mfsf2net_seg" else dice_ce

    n_train, batch_size, budget = len(train_x), min(int(config["batch_size"]), len(train_x)), config["budget_cpu_s"]
    order, position = torch.randperm(n_train, generator=generator), 0
    steps = images_seen = 0
    loss_value, nonfinite = float("nan"), False
    model.train()
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    max_steps = config.get("max_steps")
    while True:
        spent = time.process_time() - cpu_start
        if max_steps:  # a fixed number of steps: the schedule runs on steps, the same in any backend or load
            if steps >= max_steps:
                break
            progress = steps / max_steps
        else:
            # stop before the step that would end past the budget (mean step cost so far); always make one step
            if steps and spent + spent / steps > budget:
                break
            progress = spent / budget
        for group in optimizer.param_groups:
            group["lr"] = config["lr"] * lr_factor(progress, config["warmup_fraction"])
        if position + batch_size > n_train:  # a new epoch: reshuffle (the incomplete last batch is dropped)
            order, position = torch.randperm(n_train, generator=generator), 0
        index = order[position : position + batch_size]
        position += batch_size
        x = _normalise(train_x[index])
        y = train_y[index] if is_cls else train_y[index].unsqueeze(1).float()
        x, y_aug = _random_flips(x, None if is_cls else y, generator)
        y = y if is_cls else y_aug
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            nonfinite = True
            break
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        steps += 1
        images_seen += len(index)
    train_cpu = time.process_time() - cpu_start
    train_wall = time.perf_counter() - wall_start

    cpu_eval, wall_eval = time.process_time(), time.perf_counter()
    model.eval()
    metrics: dict[str, float] = {}
    with torch.inference_mode():
        if is_cls:
            metric = ClassificationMetric(class_names=[str(n) for n in arrays["class_names"]])
            for start in range(0, len(test_x), config["eval_batch_size"]):
                logits = model(_normalise(test_x[start : start + config["eval_batch_size"]]))
                probs = torch.nan_to_num(torch.softmax(logits.float(), dim=1), nan=1.0 / out_channels)
                metric(y_pred=probs, y=test_y[start : start + config["eval_batch_size"]])
            report = metric.aggregate()
            metrics = {k: float(report[k]) for k in CLASSIFICATION_METRICS}
        else:
            dice, iou = DiceMetric(include_background=True, reduction="mean"), MeanIoU(include_background=True)
            for start in range(0, len(test_x), config["eval_batch_size"]):
                logits = model(_normalise(test_x[start : start + config["eval_batch_size"]]))
                pred = (torch.sigmoid(logits.float()) > 0.5).float()
                target = test_y[start : start + config["eval_batch_size"]].unsqueeze(1).float()
                dice(y_pred=pred, y=target)
                iou(y_pred=pred, y=target)
            metrics = {"dice": float(dice.aggregate()), "iou": float(iou.aggregate())}
    eval_cpu, eval_wall = time.process_time() - cpu_eval, time.perf_counter() - wall_eval

    row = {k: config[k] for k in ("task", "model", "seed", *CONFIG_KEYS)}
    row.update(
        params=params,
        n_train=n_train,
        n_test=len(test_x),
        steps=steps,
        images_seen=images_seen,
        epochs=round(images_seen / n_train, 4),
        train_cpu_s=round(train_cpu, 3),
        train_wall_s=round(train_wall, 3),
        build_cpu_s=round(build_cpu, 3),
        eval_cpu_s=round(eval_cpu, 3),
        eval_wall_s=round(eval_wall, 3),
        final_loss=round(loss_value, 6),
        nonfinite_loss=nonfinite,
        **{k: round(v, 6) for k, v in metrics.items()},
    )
    return row


# -------------------------------------------------------------------------------------------------------- summary
def summarise(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (task, model): number of seeds and, per metric and cost column, ``(mean, sample sd)``.

    The sd is the sample standard deviation (n - 1); it is NaN for a single seed. Empty metric cells are skipped.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["task"]), str(row["model"])), []).append(row)
    columns = (*CLASSIFICATION_METRICS, *SEGMENTATION_METRICS, "images_seen", "epochs", "train_cpu_s", "eval_cpu_s")
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for key, members in groups.items():
        entry: dict[str, Any] = {"n": len(members), "seeds": sorted(int(r["seed"]) for r in members)}
        entry["params"] = int(members[0]["params"])
        for col in columns:
            values = [float(r[col]) for r in members if r.get(col) not in (None, "")]
            if values:
                sd = statistics.stdev(values) if len(values) > 1 else float("nan")
                entry[col] = (statistics.fmean(values), sd)
        summary[key] = entry
    return summary


def format_mean_sd(value: tuple[float, float], digits: int = 3) -> str:
    """``"0.812 ± 0.014"``; the sd is left out when it is undefined (one seed)."""
    mean, sd = value
    return f"{mean:.{digits}f}" if math.isnan(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


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
    try:
        mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        mem = "unknown"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "hardware": f"{cpu}, {os.cpu_count()} logical CPUs, {mem} RAM; one thread per run, {args.jobs} run(s) at once",
        "load average at start (1, 5, 15 min)": load,
        "software": f"Python {platform.python_version()}, torch {torch.__version__}, MONAI {monai.__version__}; "
        f"selective scan backend {os.environ.get('MONAI_FUSION_SCAN_BACKEND', 'auto')}",
        "budget": (
            f"{args.max_steps} training steps per run (the learning-rate schedule runs on steps)"
            if args.max_steps
            else f"{args.budget_cpu_s:g} CPU-seconds of training per run (process time, model build and "
            "evaluation excluded)"
        ),
        "resolution": f"{args.image_size} x {args.image_size} px, RGB",
        "seeds": " ".join(str(s) for s in args.seeds) + f" (split seed {args.split_seed})",
        "recipe": f"AdamW lr {args.lr:g}, weight decay {args.weight_decay:g}, batch {args.batch_size}, "
        f"warm-up {args.warmup_fraction:g} of the budget then cosine to 0, random h/v flips, from scratch",
        "limit": "none (full splits)" if args.limit is None else f"{args.limit} images per split",
    }


def write_markdown(path: Path, rows: Sequence[dict[str, Any]], env: dict[str, str], total_wall_s: float) -> None:
    """``results.md``: the environment, then one table per task (best mean per metric in bold)."""
    summary = summarise(rows)
    lines = ["# Accuracy under a fixed CPU budget", ""]
    lines += [f"- **{k}**: `{v}`" if k == "command" else f"- **{k}**: {v}" for k, v in env.items()]
    lines += [f"- **total wall time**: {total_wall_s / 60:.1f} min", ""]
    lines += ["Values are mean ± sample sd over the seeds, on the held-out test split, final weights.", ""]
    for task in TASKS.values():
        models = [m for m in task.models if (task.name, m) in summary]
        if not models:
            continue
        metrics = (
            ("balanced_accuracy", "macro_f1", "macro_auc") if task.kind == "classification" else SEGMENTATION_METRICS
        )
        n_test = next(int(r["n_test"]) for r in rows if r["task"] == task.name)
        lines += [f"## {task.title}", "", f"Test split: {n_test} images, grouped by {task.split_note}.", ""]
        header = ["Model", "Params (M)", *(METRIC_TITLES[m] for m in metrics), "Images seen", "Epochs"]
        header += ["Train CPU-s", "Eval CPU-s", "Seeds"]
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        best = {m: max(summary[(task.name, x)][m][0] for x in models if m in summary[(task.name, x)]) for m in metrics}
        for model in models:
            entry = summary[(task.name, model)]
            cells = [MODEL_TITLES[model], f"{entry['params'] / 1e6:.1f}"]
            for m in metrics:
                text = format_mean_sd(entry[m]) if m in entry else "n/a"
                cells.append(f"**{text}**" if m in entry and entry[m][0] == best[m] else text)
            cells += [f"{entry['images_seen'][0]:.0f}", f"{entry['epochs'][0]:.2f}"]
            cells += [f"{entry['train_cpu_s'][0]:.1f}", f"{entry['eval_cpu_s'][0]:.1f}", str(entry["n"])]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of an existing ``runs.csv`` (values as strings)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``runs.csv`` atomically, sorted by task, model and seed."""
    order = {t: i for i, t in enumerate(TASKS)}
    models = {m: i for i, m in enumerate((*CLASSIFICATION_MODELS, *SEGMENTATION_MODELS))}
    ordered = sorted(rows, key=lambda r: (order[r["task"]], models[r["model"]], int(r["seed"])))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ordered)
    os.replace(tmp, path)


def _same_config(row: dict[str, Any], config: dict[str, Any]) -> bool:
    return all(str(row.get(k, "")) == str("" if config[k] is None else config[k]) for k in CONFIG_KEYS)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS), help="tasks (default: all)")
    parser.add_argument(
        "--models", nargs="+", default=None, choices=list(MODEL_TITLES), help="models (default: all of each task)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--budget-cpu-s", type=float, default=45.0, help="training CPU-seconds per run (default 45)")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="train exactly N steps instead of a CPU budget (schedule on steps; compares backends or machines)",
    )
    parser.add_argument("--image-size", type=int, default=64, help="square input size, divisible by 32 (default 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16)")
    parser.add_argument("--eval-batch-size", type=int, default=64, help="evaluation batch size (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (default 1e-3)")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default 0.05)")
    parser.add_argument("--warmup-fraction", type=float, default=0.05, help="warm-up share of the budget (0.05)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the grouped split (default 0, as bundles)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N images per split (quick checks)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, each in its own process (default 2)")
    parser.add_argument("--data-root", type=Path, default=None, help="folder with the datasets (../shared/data)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="resized-image cache (~/.cache/monai_fusion/...)")
    parser.add_argument("--output-dir", type=Path, default=Path("accuracy_results"), help="where CSV and MD go")
    parser.add_argument("--resume", action="store_true", help="keep finished runs of runs.csv with the same settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.image_size < 32 or args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32 (the networks downsample by 32), got {args.image_size}.")
    if args.budget_cpu_s <= 0 or args.jobs < 1 or args.batch_size < 2:
        parser.error("--budget-cpu-s must be > 0, --jobs >= 1 and --batch-size >= 2.")
    if args.limit is not None and args.limit < 4:
        parser.error(f"--limit must be at least 4 images per split, got {args.limit}.")
    if not 0.0 <= args.warmup_fraction < 1.0:
        parser.error(f"--warmup-fraction must lie in [0, 1), got {args.warmup_fraction}.")
    return args


def main(argv: Sequence[str] | None = None) -> Path:
    """Run the comparison; return the output folder (with ``runs.csv`` and ``results.md``)."""
    args = parse_args(argv)
    command = "python scripts/accuracy.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the worker processes
    data_root = args.data_root or default_data_root()
    cache_dir = args.cache_dir or default_cache_dir()
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "runs.csv", out_dir / "results.md"
    wall0 = time.perf_counter()
    env = environment(args, command)

    configs: list[dict[str, Any]] = []
    for name in args.tasks:
        task = TASKS[name]
        models = [m for m in task.models if args.models is None or m in args.models]
        if not models:
            continue
        print(f"preparing {task.title} at {args.image_size} px ...", flush=True)
        cache = prepare_cache(task, data_root, cache_dir, args.image_size, args.split_seed, args.limit, args.jobs)
        for model in models:
            for seed in args.seeds:
                configs.append(
                    {
                        "task": name,
                        "model": model,
                        "seed": seed,
                        "cache": str(cache),
                        "image_size": args.image_size,
                        "budget_cpu_s": args.budget_cpu_s,
                        "max_steps": args.max_steps,
                        "batch_size": args.batch_size,
                        "eval_batch_size": args.eval_batch_size,
                        "lr": args.lr,
                        "weight_decay": args.weight_decay,
                        "warmup_fraction": args.warmup_fraction,
                        "split_seed": args.split_seed,
                        "limit": args.limit,
                    }
                )
    if not configs:
        raise SystemExit("no run selected: --models names no model of the chosen --tasks.")

    rows: list[dict[str, Any]] = []
    if args.resume and csv_path.is_file():
        wanted = {(c["task"], c["model"], str(c["seed"])): c for c in configs}
        for row in read_rows(csv_path):
            key = (row["task"], row["model"], str(row["seed"]))
            if key in wanted and _same_config(row, wanted[key]):
                rows.append(row)
        done = {(r["task"], r["model"], str(r["seed"])) for r in rows}
        configs = [c for c in configs if (c["task"], c["model"], str(c["seed"])) not in done]
        print(f"resuming: {len(rows)} finished run(s) kept, {len(configs)} to go", flush=True)
    # longest first (big test splits, costly models) so that the two workers finish together
    n_test = {}
    for cache in {c["cache"] for c in configs}:
        with np.load(cache) as data:
            n_test[cache] = int(data["test_y"].shape[0])
    configs.sort(key=lambda c: -(args.budget_cpu_s + _COST_HINT[c["model"]] * n_test[c["cache"]] / 100))

    from tqdm import tqdm

    bar = tqdm(total=len(configs), desc="runs", unit="run", disable=args.no_progress, file=sys.stdout)

    def _record(row: dict[str, Any]) -> None:
        rows.append(row)
        write_rows(csv_path, rows)
        main_metric = "balanced_accuracy" if TASKS[row["task"]].kind == "classification" else "dice"
        bar.set_postfix_str(f"{row['task']}/{row['model']}/seed{row['seed']}: {main_metric} {row[main_metric]:.3f}")
        bar.update(1)

    if args.jobs == 1:
        for config in configs:
            _record(run_one(config))
    elif configs:
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_one, c): c for c in configs}
            try:
                for future in as_completed(futures):
                    _record(future.result())
            except BaseException:  # stop at the first failure instead of finishing the queue
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    write_rows(csv_path, rows)
    write_markdown(md_path, read_rows(csv_path), env, time.perf_counter() - wall0)
    print(f"wrote {csv_path} and {md_path} ({len(rows)} runs, {(time.perf_counter() - wall0) / 60:.1f} min)")
    return out_dir


if __name__ == "__main__":
    main()
