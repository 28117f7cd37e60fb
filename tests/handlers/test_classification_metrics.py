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

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.handlers import from_engine
from monai.metrics import ConfusionMatrixMetric

from monai_fusion.handlers.classification_metrics import ClassificationMetric, ClassificationMetrics, roc_curve


def _independent_report(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Textbook definitions, computed without MONAI."""
    k = probs.shape[1]
    pred = probs.argmax(1)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(labels, pred):
        cm[t, p] += 1
    tp = np.diag(cm).astype(float)
    fn, fp = cm.sum(1) - tp, cm.sum(0) - tp
    tn = cm.sum() - tp - fn - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        sens, spec, prec = tp / (tp + fn), tn / (tn + fp), tp / (tp + fp)
        f1 = 2 * tp / (2 * tp + fp + fn)
    aucs = []
    for c in range(k):
        pos, neg = probs[labels == c, c], probs[labels != c, c]
        # AUC = P(score_pos > score_neg) + 0.5 P(tie), by counting pairs
        aucs.append(
            ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
        )
    return {
        "cm": cm,
        "sens": sens,
        "spec": spec,
        "prec": prec,
        "f1": f1,
        "auc": np.array(aucs),
        "acc": (pred == labels).mean(),
    }


def _data(n: int = 60, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    logits = torch.randn(n, k, generator=g) + 1.5 * torch.nn.functional.one_hot(labels, k)
    return torch.softmax(logits, 1), labels


def test_report_matches_textbook_definitions() -> None:
    probs, labels = _data()
    metric = ClassificationMetric(class_names=["a", "b", "c", "d"])
    metric(probs[:25], labels[:25])
    metric(list(probs[25:]), list(labels[25:]))  # per-image lists, as MONAI engines pass them
    report = metric.aggregate()
    ref = _independent_report(probs.numpy(), labels.numpy())
    np.testing.assert_array_equal(report["confusion_matrix"], ref["cm"])
    assert report["accuracy"] == pytest.approx(ref["acc"])
    assert report["balanced_accuracy"] == pytest.approx(np.nanmean(ref["sens"]))
    assert report["macro_f1"] == pytest.approx(np.nanmean(ref["f1"]), abs=1e-6)
    assert report["macro_specificity"] == pytest.approx(np.nanmean(ref["spec"]))
    assert report["macro_precision"] == pytest.approx(np.nanmean(ref["prec"]))
    np.testing.assert_allclose(report["per_class"]["auc"], ref["auc"], atol=1e-6)
    assert report["macro_auc"] == pytest.approx(ref["auc"].mean(), abs=1e-6)
    assert report["per_class"]["support"] == np.bincount(labels.numpy(), minlength=4).tolist()
    assert report["num_samples"] == 60


def test_one_hot_labels_equal_index_labels() -> None:
    probs, labels = _data(seed=1)
    a, b = ClassificationMetric(), ClassificationMetric()
    a(probs, labels)
    b(probs, torch.nn.functional.one_hot(labels, 4))
    assert a.aggregate()["confusion_matrix"] == b.aggregate()["confusion_matrix"]


def test_macro_differs_from_monai_mean_reduction_on_imbalanced_data() -> None:
    """The reason this metric exists: MONAI's reduction='mean' sensitivity is a micro average (= accuracy)."""
    labels = torch.tensor([0] * 18 + [1] * 2)
    pred = torch.zeros(20, dtype=torch.long)
    pred[-1] = 1
    probs = torch.nn.functional.one_hot(pred, 2).float()
    monai_metric = ConfusionMatrixMetric(metric_name="sensitivity", reduction="mean")
    monai_metric(probs, torch.nn.functional.one_hot(labels, 2))
    ours = ClassificationMetric()
    ours(probs, labels)
    report = ours.aggregate()
    assert float(monai_metric.aggregate()[0]) == pytest.approx(report["accuracy"]) == pytest.approx(0.95)
    assert report["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)


def test_undefined_classes_are_left_out_of_macro_means() -> None:
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    metric = ClassificationMetric()
    metric(probs, torch.tensor([0, 1]))  # class 2 never occurs nor is predicted
    report = metric.aggregate()
    assert np.isnan(report["per_class"]["sensitivity"][2]) and np.isnan(report["per_class"]["auc"][2])
    assert report["balanced_accuracy"] == 1.0 and report["macro_auc"] == 1.0


def test_roc_curve_points() -> None:
    fpr, tpr = roc_curve(np.array([0.9, 0.8, 0.8, 0.1]), np.array([1, 0, 1, 0]))
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 1.0, 1.0])
    assert np.isnan(roc_curve(np.array([0.3, 0.4]), np.array([1, 1]))[0]).all()


def test_handler_sets_key_metric_other_scalars_and_report() -> None:
    probs, labels = _data(n=12, k=3)
    batches = [[{"pred": p, "label": y} for p, y in zip(probs[i : i + 4], labels[i : i + 4])] for i in range(0, 12, 4)]
    engine = Engine(lambda e, batch: batch)
    handler = ClassificationMetrics(key="macro_f1", output_transform=from_engine(["pred", "label"]), prefix="val_")
    handler.attach(engine, "val_macro_f1")
    engine.run(batches)
    metrics = engine.state.metrics
    report = engine.state.classification_report
    assert metrics["val_macro_f1"] == pytest.approx(report["macro_f1"])
    assert metrics["val_accuracy"] == pytest.approx(report["accuracy"])
    assert {"val_balanced_accuracy", "val_macro_auc"} <= set(metrics)
    assert report["num_samples"] == 12
    with pytest.raises(ValueError, match="key must be one of"):
        ClassificationMetrics(key="top5")
