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
"""Resuming: a training run that dies in its second epoch is resumed from the latest checkpoint (model, optimizer,
LR scheduler, trainer epoch, curves, best score) with ``resume=True`` and finishes its remaining epochs; the best
model is replaced after a resume only by a better validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

from monai_fusion import bundle_utils
from tests.bundles.classification_cases import config_paths, tiny_datalist, workflow_overrides

pytestmark = [pytest.mark.bundle, pytest.mark.data]


class SimulatedCrashError(RuntimeError):
    """The simulated failure."""


def _crash(engine) -> None:
    raise SimulatedCrashError(f"simulated crash at iteration {engine.state.iteration}")


def test_resume_continues_from_latest_checkpoint(tmp_path: Path) -> None:
    name = "medmamba"
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(name, tmp_path / "data")
    override = {**workflow_overrides(name, tmp_path, datalist, classes), "max_epochs": 3}
    first = ConfigWorkflow(config_file=config_paths(name, "train.json"), run_id="training", **override)
    first.initialize()
    trainer = first.parser.get_parsed_content("train#trainer")
    epoch_length = len(first.parser.get_parsed_content("train#dataloader"))
    trainer.add_event_handler(Events.ITERATION_STARTED(once=epoch_length + 1), _crash)  # dies inside epoch 2
    with pytest.raises(RuntimeError) as info:
        first.run()
    assert isinstance(info.value, SimulatedCrashError) or isinstance(info.value.__cause__, SimulatedCrashError)
    checkpoints = sorted(p.name for p in (tmp_path / "models").glob("checkpoint_*.pt"))
    assert checkpoints == ["checkpoint_epoch=1.pt"]
    saved = torch.load(tmp_path / "models" / checkpoints[0], map_location="cpu", weights_only=True)
    epoch1_loss = saved["training_curves"]["loss_history"][1]

    second = ConfigWorkflow(config_file=config_paths(name, "train.json"), run_id="training", resume=True, **override)
    second.initialize()
    trainer = second.parser.get_parsed_content("train#trainer")
    started_at: list[int] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: started_at.append(e.state.epoch))
    second.run()
    second.finalize()
    assert started_at == [2, 3], "training must continue with epoch 2, not start over"
    assert trainer.state.epoch == 3 and trainer.state.iteration == 3 * epoch_length
    scheduler = second.parser.get_parsed_content("lr_scheduler")
    assert scheduler.last_epoch == 3 * epoch_length, "the per-iteration LR schedule must continue too"
    curves = second.parser.get_parsed_content("training_curves")
    assert sorted(curves.loss_history) == [1, 2, 3]
    assert curves.loss_history[1] == pytest.approx(epoch1_loss)
    # the resumed saver does not know the first run's file, so that one stays; the newest is picked next time
    assert Path(bundle_utils.latest_checkpoint(str(tmp_path / "models"))).name == "checkpoint_epoch=3.pt"


def test_best_score_survives_a_resume(tmp_path: Path) -> None:
    """The key-metric saver's state (best score, file) is in the resumable checkpoint: after a resume, ``model.pt``
    is replaced only by a validation better than every one before the interruption."""
    name = "medmamba"
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(name, tmp_path / "data")
    override = workflow_overrides(name, tmp_path, datalist, classes)
    first_override = {**override, "max_epochs": 1}
    first = ConfigWorkflow(config_file=config_paths(name, "train.json"), run_id="training", **first_override)
    first.initialize()
    first.run()
    first.finalize()
    models = tmp_path / "models"
    state = torch.load(models / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=True)
    (score, filename), *rest = state["best_checkpoint"]["_saved"]
    assert not rest and score == pytest.approx(
        first.parser.get_parsed_content("training_curves").metric_history["val_accuracy"][1][0]
    )
    best_before = (models / "model.pt").read_bytes()
    # make epoch 1 unbeatable (accuracy <= 1), so that no validation after the resume may replace model.pt
    state["best_checkpoint"]["_saved"] = [(1.5, filename)]
    torch.save(state, models / "checkpoint_epoch=1.pt")

    second = ConfigWorkflow(config_file=config_paths(name, "train.json"), run_id="training", resume=True, **override)
    second.initialize()
    second.run()
    second.finalize()
    assert second.parser.get_parsed_content("train#trainer").state.epoch == 2
    saver = second.parser.get_parsed_content("best_model_saver")
    assert saver.state_dict()["_saved"] == [(1.5, filename)], "the resumed saver must know the best score so far"
    assert (models / "model.pt").read_bytes() == best_before, "a worse validation after a resume replaced model.pt"
