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
"""A trained bundle is reusable: other tools may insert handlers (as MONAI Label does), a quick trial on a part of
the data still validates and checkpoints, and a checkpoint that does not fit the requested network says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow

from monai_fusion.handlers import CheckpointMismatchError
from tests.bundles.classification_cases import config_paths, tiny_datalist, workflow_overrides

pytestmark = [pytest.mark.bundle, pytest.mark.data]

NAME = "medmamba"


def _raw_list(name: str, key: str) -> list:
    parser = ConfigParser()
    parser.read_config(config_paths(name, "train.json"))
    return list(parser[key])


def _monai_label_overrides(models: Path) -> dict:
    """What MONAI Label's BundleTrainTask does when ``models/model.pt`` exists: a ``CheckpointLoader`` goes *first*
    into ``train#handlers``; we also put a handler first into ``validate#handlers``, as any user may."""
    loader = {
        "_target_": "CheckpointLoader",
        "load_path": str(models / "model.pt"),
        "load_dict": {"model": "@network"},
        "map_location": "cpu",
    }
    stats = {"_target_": "StatsHandler", "iteration_log": False}
    return {
        "train#handlers": [loader, *_raw_list(NAME, "train#handlers")],
        "validate#handlers": [stats, *_raw_list(NAME, "validate#handlers")],
    }


def _run(**override) -> ConfigWorkflow:
    workflow = ConfigWorkflow(config_file=config_paths(NAME, "train.json"), run_id="training", **override)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return workflow


def test_inserted_handlers_do_not_break_training_or_resume(tmp_path: Path) -> None:
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(NAME, tmp_path / "data")
    override = workflow_overrides(NAME, tmp_path, datalist, classes)
    models = tmp_path / "models"
    _run(**{**override, "max_epochs": 1})
    assert (models / "model.pt").is_file()

    inserted = _monai_label_overrides(models)
    second = _run(**{**override, **inserted, "max_epochs": 2})  # before the fix: "ValidationHandler should have ..."
    assert second.parser.get_parsed_content("train#trainer").state.epoch == 2
    state = torch.load(models / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=True)
    saved_best = state["best_checkpoint"]["_saved"]
    assert saved_best and saved_best[0][1].startswith("model"), "the best-model saver's state, not another handler's"

    third = _run(**{**override, **inserted, "max_epochs": 3, "resume": True})
    assert third.parser.get_parsed_content("train#trainer").state.epoch == 3
    saver = third.parser.get_parsed_content("best_model_saver")
    assert saver.state_dict()["_saved"][0][0] >= saved_best[0][0], "the resumed run kept its best score"
    assert (tmp_path / "eval" / "training_curves.png").is_file()


def test_quick_trial_uses_part_of_the_data_and_validates_every_n_iterations(tmp_path: Path) -> None:
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(NAME, tmp_path / "data")
    override = workflow_overrides(NAME, tmp_path, datalist, classes)
    workflow = _run(**{**override, "max_train_items": 2, "max_val_items": 1, "val_every_n_iters": 1, "max_epochs": 3})
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.epoch_length == 1 and trainer.state.iteration == 3  # 2 of 4 images, batch 2
    assert len(workflow.parser.get_parsed_content("validate#dataset")) == 1
    curves = workflow.parser.get_parsed_content("training_curves")
    history = curves.metric_history["val_accuracy"]
    assert {epoch: len(values) for epoch, values in history.items()} == {1: 1, 2: 1, 3: 1}, "one per iteration"
    models = tmp_path / "models"
    assert (models / "model.pt").is_file()
    assert sorted(p.name for p in models.glob("checkpoint_*.pt")) == ["checkpoint_iteration=3.pt"]


def test_evaluation_needs_no_training_override_and_explains_a_mismatch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(NAME, tmp_path / "data")
    override = workflow_overrides(NAME, tmp_path, datalist, classes)
    _run(**override)
    plain = {k: override[k] for k in ("bundle_root", "output_dir", "ckpt_dir", "datalist", "num_workers")}
    evaluation = ConfigWorkflow(
        config_file=config_paths(NAME, "train.json", "evaluate.json"), workflow_type="eval", progress_bar=False, **plain
    )
    evaluation.initialize()
    evaluation.run()
    evaluation.finalize()
    report = json.loads((tmp_path / "eval" / "evaluation" / "classification_report.json").read_text())
    assert report["num_samples"] == 2

    (tmp_path / "models" / "training_record.json").unlink()  # e.g. weights copied without their record
    evaluation = ConfigWorkflow(
        config_file=config_paths(NAME, "train.json", "evaluate.json"),
        workflow_type="eval",
        progress_bar=False,
        class_names=classes,
        image_size=override["image_size"],
        **plain,
    )
    evaluation.initialize()
    with pytest.raises(BaseException) as err:  # noqa: B017 - the config evaluator may wrap it; its cause is checked
        evaluation.run()
    error = err.value
    while error is not None and not isinstance(error, CheckpointMismatchError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, CheckpointMismatchError), f"no CheckpointMismatchError in {err.value!r}"
    message = str(error)
    assert len(message) < 1500, "a summary, not hundreds of keys"
    assert "model.pt" in message and "monai_fusion.networks.nets.medmamba.MedMamba" in message
    assert "No training record" in message and "Fix:" in message and "--network_def#" in message
