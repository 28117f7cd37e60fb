# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Issue 8: a training run killed with SIGKILL, then resumed with ``--resume True``, ends exactly where an
uninterrupted run with the same seed ends (CPU, deterministic settings).

Real processes, as a user runs them (``python -m monai.bundle run training``), on real chest X-rays with a tiny
MedMamba. The interrupted run is killed twice: in the middle of epoch 2 (after its first iteration is logged) and as
soon as the checkpoint of epoch 2 appears. Final validation report, final weights, best model and training curves
must equal the uninterrupted run's bit for bit. This holds because ``ReseedEachEpoch`` makes each epoch's shuffling
and augmentation depend on ``(seed, epoch)`` only, and because the best score so far is part of the resumable
checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.bundles.classification_cases import IMAGE_SIZE, TINY_NETWORKS
from tests.utils import REPO_ROOT, require_data

pytestmark = [pytest.mark.bundle, pytest.mark.data]

NAME = "medmamba"
EPOCHS = 3
ITERATIONS_PER_EPOCH = 4  # 8 training images, batch 2


def _datalist(folder: Path) -> tuple[Path, list[str]]:
    root = require_data("chest_xray_pneumonia")
    classes = ["NORMAL", "PNEUMONIA"]
    files = [sorted((root / c).iterdir())[:6] for c in classes]
    items = [
        [{"image": str(p), "label": k, "case_id": p.name, "group": p.stem} for p in per_class]
        for k, per_class in enumerate(files)
    ]
    datalist = {
        "name": "kill-and-resume",
        "task": "classification",
        "class_names": classes,
        "num_classes": 2,
        "path_keys": ["image"],
        "channels": {"image": [1, 3]},
        "training": items[0][:4] + items[1][:4],
        "validation": items[0][4:6] + items[1][4:5],
        "test": items[1][5:],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "datalist.json"
    path.write_text(json.dumps(datalist))
    return path, classes


def _command(datalist: Path, classes: list[str], out: Path, resume: bool) -> list[str]:
    configs = f"['bundles/{NAME}/configs/train.json']"
    args = {
        "datalist": str(datalist),
        "class_names": json.dumps(classes),
        "output_dir": str(out / "eval"),
        "ckpt_dir": str(out / "models"),
        "image_size": str(IMAGE_SIZE),
        "num_workers": "0",
        "train_batch_size": "2",
        "val_batch_size": "2",
        "max_epochs": str(EPOCHS),
        "progress_bar": "False",
        "tensorboard": "False",
        "resume": str(resume),
        **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in TINY_NETWORKS[NAME].items()},
    }
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", configs]
    return cmd + [part for k, v in args.items() for part in (f"--{k}", v)]


def _start(cmd: list[str], log: Path | None) -> subprocess.Popen:
    # same thread settings for every process: CPU float results then do not depend on the scheduling
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONUNBUFFERED"] = "1"
    out = subprocess.PIPE if log is None else open(log, "w")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"


def _checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "models").glob("checkpoint_epoch=*.pt"))


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    datalist, classes = _datalist(tmp_path / "data")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = _start(_command(datalist, classes, straight, resume=False), tmp_path / "straight.log")

    # 1. killed in the middle of epoch 2: right after its first iteration is logged
    first = _start(_command(datalist, classes, killed, resume=False), None)
    marker = f"Epoch: 2/{EPOCHS}, Iter: 1/{ITERATIONS_PER_EPOCH}"
    seen = []
    for line in first.stdout:
        seen.append(line)
        if marker in line:
            _kill(first)
            break
    else:
        pytest.fail(f"no line {marker!r} in the output:\n" + "".join(seen[-40:]))
    assert _checkpoints(killed) == ["checkpoint_epoch=1.pt"], "the kill must land inside epoch 2"

    # 2. resumed, then killed as soon as the checkpoint of epoch 2 appears
    second = _start(_command(datalist, classes, killed, resume=True), tmp_path / "second.log")
    deadline = time.monotonic() + 300
    while not (killed / "models" / "checkpoint_epoch=2.pt").exists():
        assert second.poll() is None, (tmp_path / "second.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint of epoch 2"
        time.sleep(0.002)
    _kill(second)
    assert "checkpoint_epoch=3.pt" not in _checkpoints(killed)

    # 3. resumed to the end
    third = _start(_command(datalist, classes, killed, resume=True), tmp_path / "third.log")
    assert third.wait(timeout=600) == 0, (tmp_path / "third.log").read_text()[-3000:]
    assert reference.wait(timeout=600) == 0, (tmp_path / "straight.log").read_text()[-3000:]
    resumed_log = (tmp_path / "third.log").read_text()
    assert f"Epoch: 3/{EPOCHS}, Iter: 1/" in resumed_log and f"Epoch: 1/{EPOCHS}, Iter: 1/" not in resumed_log

    # the final validation report, number for number
    report = "eval/validation/classification_report.json"
    expected = json.loads((straight / report).read_text())
    assert expected["num_samples"] == 3
    assert json.loads((killed / report).read_text()) == expected

    # the final weights, the best model, and the history of losses and metrics
    final_a, final_b = _load(straight / "models/checkpoint_epoch=3.pt"), _load(killed / "models/checkpoint_epoch=3.pt")
    assert final_a["model"].keys() == final_b["model"].keys()
    for key, value in final_a["model"].items():
        assert torch.equal(value, final_b["model"][key]), key
    curves_a, curves_b = dict(final_a["training_curves"]), dict(final_b["training_curves"])
    # the per-epoch CPU / wall clocks differ between runs by nature; the epochs they were taken at must not
    assert curves_a.pop("time_history").keys() == curves_b.pop("time_history").keys() == {1, 2, 3}
    assert curves_a == curves_b
    assert final_a["best_checkpoint"] == final_b["best_checkpoint"]
    best_a, best_b = _load(straight / "models/model.pt"), _load(killed / "models/model.pt")
    assert best_a.keys() == best_b.keys() and all(torch.equal(v, best_b[k]) for k, v in best_a.items())


@pytest.mark.parametrize("name", ["cdfinet", "hifuse", "medmamba", "mfsf2net", "mfsf2net_segmentation"])
def test_every_bundle_reseeds_each_epoch_and_resumes_its_best_score(name: str) -> None:
    """What the test above relies on, in the five ``train.json``: ``ReseedEachEpoch`` on the training loader with the
    run's seed, and the best-model saver's state in both the saved and the loaded resumable checkpoint."""
    config = json.loads((REPO_ROOT / "bundles" / name / "configs" / "train.json").read_text())
    reseed = [h for h in config["train"]["handlers"] if h["_target_"].endswith(".ReseedEachEpoch")]
    assert reseed == [{"_target_": reseed[0]["_target_"], "seed": "@seed", "loader": "@train#dataloader"}]
    assert config["latest_checkpoint_saver"]["save_dict"] == config["resume_loader"]["load_dict"] == "@checkpoint_state"
    assert config["checkpoint_state"]["best_checkpoint"] == "@best_model_saver"
    assert config["checkpoint_state"]["training_curves"] == "@training_curves"
    assert config["training_curves"]["_target_"].endswith("TrainingCurvesPlotter")
    saver = config["best_model_saver"]
    if name == "mfsf2net_segmentation":
        assert saver["_target_"] == "ignite.handlers.Checkpoint" and saver["filename_pattern"] == "model.pt"
        assert any("@best_model_saver" in step for step in config["run"])
        return
    assert "$@best_model_saver.attach(@validate#evaluator)" in config["run"] and saver["save_key_metric"] is True
    assert saver["key_metric_filename"] == "model.pt" and saver["_target_"].endswith("AtomicCheckpointSaver")
