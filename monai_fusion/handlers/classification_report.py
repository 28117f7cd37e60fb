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
"""Ignite handler writing the classification report of an evaluation: CSV/JSON tables and PNG plots.

Part of the bundle workflows (evaluation report); written for this project, no code copied. It reads the
report that :class:`monai_fusion.handlers.classification_metrics.ClassificationMetrics` leaves on the engine.
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import TYPE_CHECKING, Any

from monai.utils import IgniteInfo, min_version, optional_import

from monai_fusion.handlers.classification_metrics import SCALAR_METRICS
from monai_fusion.handlers.plots import plot_confusion_matrix, plot_roc_curves

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["ClassificationReportSaver"]


def _json_number(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


class ClassificationReportSaver:
    """Write the classification report after every evaluation (rank ``save_rank`` only).

    Files in ``output_dir`` (overwritten at each evaluation, so they describe the latest one):

    * ``classification_report.json``: the scalar metrics, the per-class values, the confusion matrix and the
      trainer epoch (NaN written as null);
    * ``per_class_metrics.csv``: class, support, sensitivity, specificity, precision, f1, auc;
    * ``confusion_matrix.csv``: K x K counts with class-name headers (rows true, columns predicted);
    * ``confusion_matrix.png`` and ``roc_curves.png`` (when ``plots``).

    Args:
        output_dir: destination folder (created if needed).
        plots: also draw the PNG figures (needs matplotlib).
        save_rank: the rank that writes.
    """

    def __init__(self, output_dir: str, plots: bool = True, save_rank: int = 0) -> None:
        if not output_dir:
            raise ValueError("output_dir must name the folder to write the report into.")
        self.output_dir = output_dir
        self.plots = plots
        self.save_rank = save_rank

    def attach(self, engine: Engine) -> None:
        """Register the writer at the end of every evaluation.

        Args:
            engine: the evaluator whose key metric is a ``ClassificationMetrics``.
        """
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        """Write the files for the evaluation that just completed.

        Args:
            engine: the evaluator.

        Raises:
            RuntimeError: the engine carries no report (no ``ClassificationMetrics`` attached to it).
        """
        report: dict[str, Any] | None = getattr(engine.state, "classification_report", None)
        if report is None:
            raise RuntimeError(
                "ClassificationReportSaver found no engine.state.classification_report: attach a "
                "monai_fusion.handlers.ClassificationMetrics to the evaluator (key_val_metric)."
            )
        if idist.get_rank() != self.save_rank:
            return
        os.makedirs(self.output_dir, exist_ok=True)
        names = report["class_names"]
        per_class = report["per_class"]
        columns = ("support", "sensitivity", "specificity", "precision", "f1", "auc")
        summary = {
            "epoch": int(engine.state.epoch),
            "num_samples": report["num_samples"],
            **{m: _json_number(report[m]) for m in SCALAR_METRICS},
            "per_class": {name: {c: _json_number(per_class[c][i]) for c in columns} for i, name in enumerate(names)},
            "confusion_matrix": report["confusion_matrix"],
            "class_names": names,
        }
        with open(os.path.join(self.output_dir, "classification_report.json"), "w") as f:
            json.dump(summary, f, indent=4)
        with open(os.path.join(self.output_dir, "per_class_metrics.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["class", *columns])
            for i, name in enumerate(names):
                writer.writerow([name, *(per_class[c][i] for c in columns)])
        with open(os.path.join(self.output_dir, "confusion_matrix.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *names])
            for name, row in zip(names, report["confusion_matrix"]):
                writer.writerow([name, *row])
        if self.plots:
            plot_confusion_matrix(
                report["confusion_matrix"], names, os.path.join(self.output_dir, "confusion_matrix.png")
            )
            plot_roc_curves(
                report["roc_curves"], per_class["auc"], names, os.path.join(self.output_dir, "roc_curves.png")
            )
