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
"""EmptyAwareHausdorffDistance and EmptyPredictions: the empty-mask policy, and MONAI's value otherwise."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from ignite.engine import Engine
from monai.handlers import HausdorffDistance
from monai.metrics import HausdorffDistanceMetric

from monai_fusion.handlers import (
    EmptyAwareHausdorffDistance,
    EmptyAwareHausdorffDistanceMetric,
    EmptyPredictionCountMetric,
    EmptyPredictions,
    image_diagonal,
)


def _masks() -> tuple[torch.Tensor, torch.Tensor]:
    """Four 24 x 32 one-channel images: a normal prediction, an empty one, both empty, a spurious one."""
    y = torch.zeros(4, 1, 24, 32)
    y_pred = torch.zeros(4, 1, 24, 32)
    y[0, :, 5:15, 6:20] = 1
    y_pred[0, :, 7:17, 4:18] = 1
    y[1, :, 3:9, 3:9] = 1  # the network found nothing
    # image 2: no lesion, nothing predicted
    y_pred[3, :, 10:12, 10:12] = 1  # something predicted where there is no lesion
    return y_pred, y


def test_normal_prediction_matches_monai_and_empty_ones_follow_the_policy() -> None:
    y_pred, y = _masks()
    metric = EmptyAwareHausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = metric(y_pred, y)
    assert not [w for w in caught if "is all 0" in str(w.message)]  # MONAI's empty-mask warnings are not repeated
    assert not [w for w in caught if "always_return_as_numpy" in str(w.message)]  # nor MONAI's internal deprecation
    monai_values = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")(y_pred, y)
    diagonal = math.sqrt(24**2 + 32**2)
    assert image_diagonal((24, 32)) == pytest.approx(40.0) == pytest.approx(diagonal)
    assert values[0, 0].item() == pytest.approx(monai_values[0, 0].item())
    assert torch.isnan(monai_values[1, 0])  # what MONAI does with an empty prediction: NaN, then left out of the mean
    assert values[1, 0].item() == pytest.approx(diagonal)
    assert values[2, 0].item() == 0.0
    assert values[3, 0].item() == pytest.approx(diagonal)
    mean = EmptyAwareHausdorffDistanceMetric(include_background=True, percentile=95)
    mean(y_pred, y)
    assert mean.aggregate().item() == pytest.approx((monai_values[0, 0].item() + 2 * diagonal) / 4)
    spaced = EmptyAwareHausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
    assert spaced(y_pred, y, spacing=0.5)[1, 0].item() == pytest.approx(diagonal / 2)


def test_empty_prediction_count_and_handlers_on_an_engine() -> None:
    y_pred, y = _masks()
    count = EmptyPredictionCountMetric(include_background=True)
    count(y_pred[:2], y[:2])
    count(y_pred[2:], y[2:])
    assert count.aggregate().item() == 1.0  # image 1 only: image 2 has an empty label, image 3 a prediction
    without_background = EmptyPredictionCountMetric(include_background=False)
    without_background(torch.cat([1 - y_pred, y_pred], 1), torch.cat([1 - y, y], 1))
    assert without_background.aggregate().item() == 1.0

    batches = [{"pred": y_pred[:2], "label": y[:2]}, {"pred": y_pred[2:], "label": y[2:]}]
    engine = Engine(lambda e, batch: batch)
    EmptyAwareHausdorffDistance(
        include_background=True, percentile=95, output_transform=lambda o: (o["pred"], o["label"])
    ).attach(engine, "hd95")
    HausdorffDistance(
        include_background=True, percentile=95, output_transform=lambda o: (o["pred"], o["label"])
    ).attach(engine, "monai_hd95")
    EmptyPredictions(include_background=True, output_transform=lambda o: (o["pred"], o["label"])).attach(
        engine, "empty_predictions"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine.run(batches)
    metrics = engine.state.metrics
    assert metrics["empty_predictions"] == 1.0
    assert metrics["monai_hd95"] < metrics["hd95"]  # MONAI left the empty prediction out
    assert engine.state.metric_details["empty_predictions"].flatten().tolist() == [0.0, 1.0, 0.0, 0.0]
