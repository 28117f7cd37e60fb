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
"""Whole-set multi-class classification metrics (macro-averaged) as a MONAI cumulative metric and Ignite handler.

Part of the bundle workflows (evaluation metrics); written for this project, no code copied.

Why not MONAI's ``ConfusionMatrix`` handler alone: ``ConfusionMatrixMetric`` with ``compute_sample=False`` and
``reduction="mean"`` averages the per-class TP/FP/TN/FN counts *before* computing the ratio, which is a
micro-average (its "sensitivity" then equals plain accuracy for single-label data), and its "balanced accuracy" is
the per-class binary (TPR + TNR) / 2, not the multi-class mean recall. ``reduction="mean_batch"`` gives per-class
values, but the handler keeps one value per metric object. :class:`ClassificationMetric` therefore keeps the class
probabilities and labels of every image (a MONAI ``CumulativeIterationMetric``, whose buffers are all-gathered
across ranks without padding, so results under DDP equal the single-process ones when the validation sampler does not
pad, i.e. ``monai.data.DistributedSampler(even_divisible=False)``), and reuses MONAI's ``get_confusion_matrix``,
``compute_confusion_matrix_metric`` (per class) and ``compute_roc_auc`` to build the report; macro values are the
NaN-ignoring mean over classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric, compute_confusion_matrix_metric, compute_roc_auc
from monai.metrics.confusion_matrix import get_confusion_matrix
from monai.utils import IgniteInfo, min_version, optional_import

if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["SCALAR_METRICS", "ClassificationMetric", "ClassificationMetrics", "roc_curve"]

#: scalar entries of the report, in the order they are logged.
SCALAR_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "macro_auc",
    "macro_sensitivity",
    "macro_specificity",
    "macro_precision",
)
_PER_CLASS = {"sensitivity": "sensitivity", "specificity": "specificity", "precision": "precision", "f1": "f1 score"}


def roc_curve(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve of one class (one point per distinct score, starting at (0, 0)).

    Args:
        scores: (N,) scores, higher meaning more likely positive.
        targets: (N,) 0/1 ground truth.

    Returns:
        ``(fpr, tpr)``; both NaN arrays when ``targets`` holds a single class.
    """
    targets = np.asarray(targets, dtype=bool)
    n_pos, n_neg = int(targets.sum()), int((~targets).sum())
    if n_pos == 0 or n_neg == 0:
        return np.array([np.nan]), np.array([np.nan])
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    sorted_scores, sorted_targets = np.asarray(scores)[order], targets[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tps = np.cumsum(sorted_targets)[last_of_threshold]
    fps = (last_of_threshold + 1) - tps
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def _nanmean(values: torch.Tensor) -> float:
    finite = values[~torch.isnan(values)]
    return float(finite.mean()) if finite.numel() else float("nan")


class ClassificationMetric(CumulativeIterationMetric):
    """Keep every image's class probabilities and label; :meth:`aggregate` returns the full report.

    Inputs per call: ``y_pred`` (B, K) class probabilities (softmax already applied) and ``y`` as class indices
    (B,) / (B, 1) or one-hot (B, K); lists of per-image tensors, as MONAI engines give them, work too.

    Report keys: the :data:`SCALAR_METRICS` (floats), ``per_class`` (dict of K-lists: ``support``,
    ``sensitivity``, ``specificity``, ``precision``, ``f1``, ``auc``), ``confusion_matrix`` (K x K list, rows =
    true class, columns = predicted class), ``roc_curves`` (K ``(fpr, tpr)`` array pairs), ``class_names`` and
    ``num_samples``. Undefined values (e.g. the precision of a never-predicted class, the AUC of a class absent
    from the labels) are NaN and left out of the macro means.

    Args:
        class_names: names of the K classes (default ``"0"`` ... ``"K-1"``).
    """

    def __init__(self, class_names: Sequence[str] | None = None) -> None:
        super().__init__()
        self.class_names = list(class_names) if class_names is not None else None

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if y_pred.ndim != 2:
            raise ValueError(f"y_pred must be (B, K) class probabilities, got shape {tuple(y_pred.shape)}.")
        n_classes = y_pred.shape[1]
        if self.class_names is not None and len(self.class_names) != n_classes:
            raise ValueError(f"{len(self.class_names)} class_names given but y_pred has {n_classes} classes.")
        if y.ndim == 2 and y.shape[1] == n_classes and n_classes > 1:
            index = y.argmax(dim=1)
        else:
            index = y.reshape(y.shape[0]).long()
        onehot = torch.nn.functional.one_hot(index.to(y_pred.device), n_classes)
        return torch.cat([y_pred.float(), onehot.float()], dim=1)

    def aggregate(self) -> dict[str, Any]:  # type: ignore[override]
        """Compute the report from all buffered (and all-gathered) images."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor) or data.numel() == 0:
            raise ValueError("ClassificationMetric has no data: call it on at least one batch before aggregate().")
        data = data.float().cpu()
        n_classes = data.shape[1] // 2
        probs, onehot = data[:, :n_classes], data[:, n_classes:]
        labels = onehot.argmax(dim=1)
        predicted = probs.argmax(dim=1)
        pred_onehot = torch.nn.functional.one_hot(predicted, n_classes).float()
        counts = get_confusion_matrix(pred_onehot, onehot).sum(dim=0)  # (K, 4): tp, fp, tn, fn
        per_class = {name: compute_confusion_matrix_metric(m, counts) for name, m in _PER_CLASS.items()}
        auc = compute_roc_auc(probs, onehot, average="none") if n_classes > 1 else [float("nan")]
        per_class["auc"] = torch.as_tensor(auc, dtype=torch.float32).reshape(n_classes)
        matrix = torch.zeros(n_classes, n_classes, dtype=torch.long)
        matrix.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
        report: dict[str, Any] = {
            "accuracy": float((predicted == labels).float().mean()),
            "balanced_accuracy": _nanmean(per_class["sensitivity"]),
            "macro_f1": _nanmean(per_class["f1"]),
            "macro_auc": _nanmean(per_class["auc"]),
            "macro_sensitivity": _nanmean(per_class["sensitivity"]),
            "macro_specificity": _nanmean(per_class["specificity"]),
            "macro_precision": _nanmean(per_class["precision"]),
        }
        report["per_class"] = {"support": onehot.sum(dim=0).long().tolist()}
        report["per_class"].update({k: [float(v) for v in per_class[k]] for k in (*_PER_CLASS, "auc")})
        report["confusion_matrix"] = matrix.tolist()
        report["roc_curves"] = [roc_curve(probs[:, k].numpy(), onehot[:, k].numpy()) for k in range(n_classes)]
        report["class_names"] = self.class_names or [str(k) for k in range(n_classes)]
        report["num_samples"] = int(data.shape[0])
        return report


class ClassificationMetrics(IgniteMetricHandler):
    """Ignite metric handler over :class:`ClassificationMetric`: one key scalar plus every other report entry.

    Attach it as the evaluator's key metric, e.g. ``key_val_metric={"val_accuracy": ClassificationMetrics(...)}``.
    At the end of each evaluation the engine gets:

    * ``engine.state.metrics[<attached name>]``: the ``key`` scalar (what ``CheckpointSaver`` and
      ``EarlyStopHandler`` compare);
    * ``engine.state.metrics[prefix + m]`` for every other ``m`` in :data:`SCALAR_METRICS` (logged by
      ``StatsHandler``, written by ``MetricsSaver``, plotted by ``TrainingCurvesPlotter``);
    * ``engine.state.classification_report``: the full report of :meth:`ClassificationMetric.aggregate` (per-class
      values, confusion matrix, ROC curves), read by ``ClassificationReportSaver``.

    Args:
        key: the scalar returned as this metric's value, one of :data:`SCALAR_METRICS`.
        class_names: names of the classes.
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``, e.g.
            ``monai.handlers.from_engine(["pred", "label"])`` with ``pred`` the softmax probabilities.
        prefix: prefix of the other scalars' names in ``engine.state.metrics``.
    """

    def __init__(
        self,
        key: str = "accuracy",
        class_names: Sequence[str] | None = None,
        output_transform: Callable = lambda x: x,
        prefix: str = "val_",
    ) -> None:
        if key not in SCALAR_METRICS:
            raise ValueError(f"key must be one of {SCALAR_METRICS}, got {key!r}.")
        if not callable(output_transform):
            raise ValueError("output_transform must be callable, e.g. monai.handlers.from_engine(['pred', 'label']).")
        super().__init__(
            metric_fn=ClassificationMetric(class_names), output_transform=output_transform, save_details=False
        )
        self.key = key
        self.prefix = prefix

    def compute(self) -> float:
        """The ``key`` scalar; also stores the other scalars and the report on the attached engine."""
        report = self.metric_fn.aggregate()
        self._is_reduced = True
        if self._engine is not None:
            for name in SCALAR_METRICS:
                if name != self.key:
                    self._engine.state.metrics[f"{self.prefix}{name}"] = report[name]
            self._engine.state.classification_report = report
        return float(report[self.key])
