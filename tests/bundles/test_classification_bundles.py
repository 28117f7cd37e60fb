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
"""train -> evaluate -> infer of each classification bundle through ``ConfigWorkflow`` (the model-zoo CI pattern), on
a few real images, with every output file checked: checkpoints, metrics tables, predictions, plots."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from PIL import Image

from tests.bundles.classification_cases import (
    CLASSIFICATION_BUNDLES,
    config_paths,
    tiny_datalist,
    workflow_overrides,
)
from tests.utils import require_data

pytestmark = [pytest.mark.bundle, pytest.mark.data]


def assert_png(path: Path, min_side: int = 100) -> None:
    """The PNG decodes, is not tiny, and is not a single flat colour."""
    assert path.is_file(), f"missing plot {path}"
    assert path.stat().st_size > 2000, f"{path} is suspiciously small"
    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB"))
    assert min(arr.shape[:2]) >= min_side
    assert arr.std() > 1.0, f"{path} is a flat image"


def read_predictions(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return [row for row in csv.reader(f) if row]


def run_workflow(config_files: list[str], run_id: str = "run", check: bool = False, **override) -> ConfigWorkflow:
    workflow = ConfigWorkflow(config_file=config_files, workflow_type="train", run_id=run_id, **override)
    workflow.initialize()
    if check:
        assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    return workflow


def inference_inputs(name: str, folder: Path, datalist: Path) -> list[Path]:
    """Two real images of the bundle's task; the gray (chest) bundles also get a DICOM slice and a NIfTI volume."""
    folder.mkdir(parents=True)
    items = json.loads(datalist.read_text())["test"]
    inputs = []
    for item in items:
        inputs.append(folder / Path(item["image"]).name)
        shutil.copy(item["image"], inputs[-1])
    if name in ("cdfinet", "medmamba"):
        series = require_data("ct_volumes", "example_ct_dicom")
        first = sorted(series.iterdir())[0]
        inputs.append(folder / first.name)  # extension-less DICOM file, found by its preamble
        shutil.copy(first, inputs[-1])
        inputs.append(folder / "volume.nii.gz")
        shutil.copy(require_data("ct_volumes", "example_ct_sm.nii.gz"), inputs[-1])
    return inputs


@pytest.mark.parametrize("name", CLASSIFICATION_BUNDLES)
def test_train_evaluate_infer(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(name, tmp_path / "data")
    override = workflow_overrides(name, tmp_path, datalist, classes)
    eval_dir, models = tmp_path / "eval", tmp_path / "models"

    # training: both run ids exist; the checks of MONAI's TrainProperties pass
    train = run_workflow(config_paths(name, "train.json"), run_id="training", check=True, **override)
    assert train.parser.get_parsed_content("train#trainer").state.epoch == 2
    assert (models / "model.pt").is_file()
    latest = models / "checkpoint_epoch=2.pt"
    state = torch.load(latest, map_location="cpu", weights_only=True)
    assert set(state) == {"model", "optimizer", "lr_scheduler", "trainer", "training_curves", "best_checkpoint"}
    assert state["best_checkpoint"]["_saved"], "the best-model saver's record must travel with the checkpoint"
    assert state["trainer"]["iteration"] == 2 * state["trainer"]["epoch_length"] == 4
    assert sorted(state["training_curves"]["loss_history"]) == [1, 2]
    assert_png(eval_dir / "training_curves.png")
    for plot in ("confusion_matrix.png", "roc_curves.png"):
        assert_png(eval_dir / "validation" / plot)
    report = json.loads((eval_dir / "validation" / "classification_report.json").read_text())
    assert report["num_samples"] == 2 and report["epoch"] == 2
    assert np.asarray(report["confusion_matrix"]).sum() == 2

    # evaluation on the test split, evaluate.json merged over train.json; the network, image size and classes come
    # from the training record next to model.pt, so none of the training overrides is repeated
    record = json.loads((models / "training_record.json").read_text())
    assert record["image_size"] == override["image_size"] and record["class_names"] == classes
    for key, value in override.items():
        if key.startswith("network_def#"):
            assert record["network_def"][key.split("#", 1)[1]] == value
    plain = {k: override[k] for k in ("bundle_root", "output_dir", "ckpt_dir", "datalist", "num_workers")}
    run_workflow(config_paths(name, "train.json", "evaluate.json"), run_id="evaluating", progress_bar=False, **plain)
    out = eval_dir / "evaluation"
    metrics = dict(row[:2] for row in read_predictions(out / "metrics.csv"))
    for key in ("test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_macro_auc"):
        assert key in metrics
    assert not any(key.startswith("val_") for key in metrics), "test-split results must not be labelled val_*"
    assert 0.0 <= float(metrics["test_accuracy"]) <= 1.0
    rows = read_predictions(out / "predictions.csv")
    test_images = [item["image"] for item in json.loads(datalist.read_text())["test"]]
    assert sorted(r[0] for r in rows) == sorted(test_images)
    probs = np.asarray([[float(v) for v in r[1:]] for r in rows])
    assert probs.shape == (2, len(classes))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    per_class = read_predictions(out / "per_class_metrics.csv")
    assert [r[0] for r in per_class[1:]] == classes
    assert_png(out / "confusion_matrix.png")

    # inference on a folder of images (plus DICOM and NIfTI for the gray bundles)
    inputs = inference_inputs(name, tmp_path / "inputs", datalist)
    infer_override = {"bundle_root": override["bundle_root"]}  # everything else comes from the training record
    infer_out = tmp_path / "inference"
    workflow = ConfigWorkflow(
        config_file=config_paths(name, "inference.json"),
        workflow_type="infer",
        dataset_dir=str(tmp_path / "inputs"),
        output_dir=str(infer_out),
        ckpt_dir=str(models),
        gradcam_images=2,
        **infer_override,
    )
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    rows = read_predictions(infer_out / "predictions.csv")
    assert sorted(r[0] for r in rows) == sorted(str(p) for p in inputs)
    probs = np.asarray([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert ((probs >= 0) & (probs <= 1)).all()
    overlays = sorted((infer_out / "gradcam").glob("*_gradcam.png"))
    assert len(overlays) == 2
    for png in overlays:
        assert_png(png)
    assert not any(os.path.exists(p) for p in ("models", "eval")), "a run wrote into the working directory"
