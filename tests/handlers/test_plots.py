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
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
from PIL import Image

from monai_fusion.handlers.classification_metrics import ClassificationMetric
from monai_fusion.handlers.classification_report import ClassificationReportSaver
from monai_fusion.handlers.plots import TrainingCurvesPlotter, plot_confusion_matrix


def _png_ok(path: Path) -> bool:
    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB"))
    return min(arr.shape[:2]) >= 100 and arr.std() > 1.0


def test_training_curves_record_loss_and_metrics(tmp_path: Path) -> None:
    losses = iter([1.0, 3.0, 0.5, 0.7])
    trainer = Engine(lambda e, b: [{"loss": torch.tensor(next(losses))}])
    evaluator = Engine(lambda e, b: None)
    accuracies = iter([0.25, 0.75])

    @evaluator.on(Events.EPOCH_COMPLETED)
    def _metrics(engine: Engine) -> None:
        engine.state.metrics.update({"val_accuracy": next(accuracies), "per_class": torch.tensor([0.1, 0.9])})

    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: evaluator.run([0]))
    plotter = TrainingCurvesPlotter(str(tmp_path), evaluator=evaluator)
    plotter.attach(trainer)
    trainer.run([0, 1], max_epochs=2)
    assert plotter.loss_history == pytest.approx({1: 2.0, 2: 0.6})
    assert plotter.metric_history["val_accuracy"] == {1: [0.25], 2: [0.75]}
    assert plotter.metric_history["per_class"][2] == pytest.approx([0.1, 0.9])
    assert _png_ok(tmp_path / "training_curves.png")
    with open(tmp_path / "training_curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "train_loss", "cpu_s", "wall_s", "per_class[0]", "per_class[1]", "val_accuracy"]
    assert [(r["epoch"], float(r["val_accuracy"])) for r in rows] == [("1", 0.25), ("2", 0.75)]
    assert 0.0 <= float(rows[0]["cpu_s"]) <= float(rows[1]["cpu_s"]) and float(rows[1]["wall_s"]) > 0.0
    restored = TrainingCurvesPlotter(str(tmp_path / "b"))
    restored.load_state_dict(plotter.state_dict())
    assert restored.loss_history == plotter.loss_history and restored.metric_history == plotter.metric_history
    assert restored.time_history == plotter.time_history
    # a resumed run continues the clocks from the last recorded epoch
    more = Engine(lambda e, b: [{"loss": torch.tensor(1.0)}])
    restored.attach(more)
    more.run([0], max_epochs=3, epoch_length=1)
    assert restored.time_history[3][1] >= restored.time_history[2][1]
    with pytest.raises(ValueError, match="png"):
        TrainingCurvesPlotter(str(tmp_path), filename="curves.jpg")


def test_report_saver_writes_tables_and_plots(tmp_path: Path) -> None:
    metric = ClassificationMetric(class_names=["x", "y", "z"])
    metric(torch.softmax(torch.randn(9, 3, generator=torch.Generator().manual_seed(0)), 1), torch.arange(9) % 3)
    engine = Engine(lambda e, b: None)
    engine.state.classification_report = metric.aggregate()
    engine.state.epoch = 4
    ClassificationReportSaver(str(tmp_path))(engine)
    summary = json.loads((tmp_path / "classification_report.json").read_text())
    assert summary["epoch"] == 4 and summary["class_names"] == ["x", "y", "z"]
    assert np.asarray(summary["confusion_matrix"]).sum() == 9
    assert (tmp_path / "per_class_metrics.csv").read_text().splitlines()[0].startswith("class,support")
    assert len((tmp_path / "confusion_matrix.csv").read_text().splitlines()) == 4
    assert _png_ok(tmp_path / "confusion_matrix.png") and _png_ok(tmp_path / "roc_curves.png")
    with pytest.raises(RuntimeError, match="ClassificationMetrics"):
        ClassificationReportSaver(str(tmp_path))(Engine(lambda e, b: None))


def test_confusion_matrix_plot_handles_empty_rows(tmp_path: Path) -> None:
    assert _png_ok(Path(plot_confusion_matrix([[2, 0], [0, 0]], ["a", "b"], str(tmp_path / "cm.png"))))
