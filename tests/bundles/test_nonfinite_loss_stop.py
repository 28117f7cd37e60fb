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
"""Non-finite loss (issue 8): a bundle run whose loss becomes NaN in its second epoch stops with a message naming
the epoch and iteration, and the checkpoint written after the first epoch is kept, intact and finite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

from monai_fusion.handlers.nonfinite_loss import NonFiniteLossError
from tests.bundles.classification_cases import config_paths, tiny_datalist, workflow_overrides

pytestmark = [pytest.mark.bundle, pytest.mark.data]


class _NaNAfter:
    """The bundle's loss, multiplied by NaN from call ``start`` on (a diverging run)."""

    def __init__(self, loss: torch.nn.Module, start: int) -> None:
        self.loss, self.start, self.calls = loss, start, 0

    def __call__(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        value = self.loss(pred, label)
        return value * float("nan") if self.calls >= self.start else value


def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    name = "medmamba"
    torch.manual_seed(0)
    datalist, classes = tiny_datalist(name, tmp_path / "data")
    override = {**workflow_overrides(name, tmp_path, datalist, classes), "max_epochs": 3}
    workflow = ConfigWorkflow(config_file=config_paths(name, "train.json"), run_id="training", **override)
    workflow.initialize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    epoch_length = len(workflow.parser.get_parsed_content("train#dataloader"))
    trainer.loss_function = _NaNAfter(trainer.loss_function, start=epoch_length + 1)  # first iteration of epoch 2
    snapshots: dict[str, torch.Tensor] = {}
    trainer.add_event_handler(
        Events.EPOCH_COMPLETED(once=1),
        lambda e: snapshots.update({k: v.detach().clone() for k, v in trainer.network.state_dict().items()}),
    )
    with pytest.raises(RuntimeError) as info:
        workflow.run()
    error = info.value if isinstance(info.value, NonFiniteLossError) else info.value.__cause__
    assert isinstance(error, NonFiniteLossError)
    assert f"at epoch 2, iteration {epoch_length + 1} (1 of {epoch_length} in the epoch)" in str(error)
    assert trainer.state.epoch == 2 and trainer.state.iteration == epoch_length + 1
    models = tmp_path / "models"
    assert sorted(p.name for p in models.glob("checkpoint_*.pt")) == ["checkpoint_epoch=1.pt"]
    saved = torch.load(models / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=True)
    assert saved["trainer"]["iteration"] == epoch_length  # written at the end of epoch 1
    assert snapshots and set(saved["model"]) == set(snapshots)
    for key, value in saved["model"].items():
        assert torch.equal(value, snapshots[key]), f"{key} differs from the weights at the end of epoch 1"
        assert not value.is_floating_point() or bool(torch.isfinite(value).all()), key
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt", "training_record.json"], (
        "no stray files"
    )
