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
"""Hausdorff distance that does not drop empty predictions, and a count of empty predictions.

Part of the segmentation bundle's validation and evaluation metrics; written for this project, no code copied. The
distances themselves come from MONAI's :func:`monai.metrics.compute_hausdorff_distance`.

Why: MONAI's ``HausdorffDistanceMetric`` returns NaN for an image whose prediction (or label) is empty, with only a
``warnings.warn``, and its reduction then averages over the remaining images. A network that predicts nothing on its
hardest images therefore gets a *better* HD95 than one that tries and misses, and a network that predicts nothing at
all gets NaN. The policy here, per image and class channel:

- prediction and label both non-empty: MONAI's (percentile) Hausdorff distance, unchanged;
- exactly one of them empty: the **diagonal of the image** (``sqrt(sum(size_i ** 2))`` in pixels, or in physical
  units when ``spacing`` is given), the largest distance two points of the image can have, i.e. the worst score;
- both empty: 0 (nothing to find, nothing found).

:class:`EmptyPredictions` counts the images (and class channels) whose prediction is empty while the label is not,
so that a report shows how many images the HD95 value was penalised for.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric, HausdorffDistanceMetric, compute_hausdorff_distance
from monai.metrics.utils import ignore_background
from monai.utils import MetricReduction

__all__ = [
    "EmptyAwareHausdorffDistance",
    "EmptyAwareHausdorffDistanceMetric",
    "EmptyPredictionCountMetric",
    "EmptyPredictions",
    "image_diagonal",
]

_EMPTY_WARNING = r"the (prediction|ground truth) of class .* is all 0"
# MONAI 1.5-1.6 call their own deprecated argument inside compute_hausdorff_distance: one warning per image
_MONAI_INTERNAL_DEPRECATION = r".*always_return_as_numpy.*"


def image_diagonal(spatial_shape: Sequence[int], spacing: float | Sequence[float] | None = None) -> float:
    """Length of the diagonal of an image: ``sqrt(sum((size_i * spacing_i) ** 2))``.

    Args:
        spatial_shape: the spatial sizes (H, W[, D]).
        spacing: pixel spacing, one number or one per spatial axis; None means 1 (distances in pixels).
    """
    sizes = [float(s) for s in spatial_shape]
    if spacing is None:
        steps = [1.0] * len(sizes)
    elif isinstance(spacing, (int, float)):
        steps = [float(spacing)] * len(sizes)
    else:
        steps = [float(s) for s in spacing]
        if len(steps) != len(sizes):
            raise ValueError(f"spacing needs one value per spatial axis {len(sizes)}, got {len(steps)}.")
    return math.sqrt(sum((n * s) ** 2 for n, s in zip(sizes, steps)))


def _empty_masks(y_pred: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C) booleans: prediction empty, label empty."""
    spatial = tuple(range(2, y_pred.ndim))
    return ~(y_pred > 0).any(dim=spatial), ~(y > 0).any(dim=spatial)


class EmptyAwareHausdorffDistanceMetric(HausdorffDistanceMetric):
    """MONAI's ``HausdorffDistanceMetric`` with a stated score for empty masks instead of NaN.

    ``EmptyAwareHausdorffDistanceMetric(include_background=False, distance_metric="euclidean", percentile=None,
    directed=False, reduction="mean", get_not_nans=False)``; the arguments are MONAI's. See the module docstring for
    the policy: one empty mask scores the image diagonal, two empty masks score 0; otherwise the value is MONAI's
    ``compute_hausdorff_distance``. MONAI's "is all 0" warnings are not repeated, since the empty cases are scored
    and counted (:class:`EmptyPredictionCountMetric`).

    The diagonal uses ``spacing`` when it is passed to ``__call__`` as one value or one per axis; per-image spacing
    lists are not supported (they raise ``ValueError``).
    """

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if y_pred.ndimension() < 3:
            raise ValueError("y_pred should have at least three dimensions.")
        spacing = kwargs.get("spacing")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_EMPTY_WARNING)
            warnings.filterwarnings("ignore", message=_MONAI_INTERNAL_DEPRECATION)
            hd = compute_hausdorff_distance(
                y_pred=y_pred,
                y=y,
                include_background=self.include_background,
                distance_metric=self.distance_metric,
                percentile=self.percentile,
                directed=self.directed,
                spacing=spacing,
            )
        yp, yt = (y_pred, y) if self.include_background else ignore_background(y_pred=y_pred, y=y)
        pred_empty, label_empty = _empty_masks(torch.as_tensor(yp), torch.as_tensor(yt))
        pred_empty, label_empty = pred_empty.to(hd.device), label_empty.to(hd.device)
        if isinstance(spacing, Sequence) and spacing and isinstance(spacing[0], Sequence):
            raise ValueError("per-image spacing lists are not supported; pass one spacing for the batch.")
        diagonal = image_diagonal(y_pred.shape[2:], spacing)
        hd = torch.where(pred_empty ^ label_empty, torch.full_like(hd, diagonal), hd)
        return torch.where(pred_empty & label_empty, torch.zeros_like(hd), hd)


class EmptyPredictionCountMetric(CumulativeIterationMetric):
    """Number of (image, class channel) pairs whose prediction is empty while the label is not.

    ``EmptyPredictionCountMetric(include_background=False)``. Inputs as MONAI's segmentation metrics: binarised,
    one-hot, batch-first tensors or lists of channel-first tensors. The buffer holds 1.0 / 0.0 per image and class,
    :meth:`aggregate` returns their sum (a 0-d float tensor).

    Args:
        include_background: whether the first channel is counted (True for one-channel sigmoid outputs).
    """

    def __init__(self, include_background: bool = False) -> None:
        super().__init__()
        self.include_background = include_background

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if y_pred.ndimension() < 3:
            raise ValueError("y_pred should have at least three dimensions.")
        if not self.include_background:
            y_pred, y = ignore_background(y_pred=y_pred, y=y)
        pred_empty, label_empty = _empty_masks(torch.as_tensor(y_pred), torch.as_tensor(y))
        return (pred_empty & ~label_empty).float()

    def aggregate(self) -> torch.Tensor:  # type: ignore[override]
        """The number of empty predictions with a non-empty label, over everything seen since :meth:`reset`."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError(f"the data to aggregate must be a PyTorch Tensor, got {type(data)}.")
        return data.sum()


class EmptyAwareHausdorffDistance(IgniteMetricHandler):
    """Ignite handler of :class:`EmptyAwareHausdorffDistanceMetric`, a drop-in for MONAI's ``HausdorffDistance``.

    ``EmptyAwareHausdorffDistance(include_background=False, distance_metric="euclidean", percentile=None,
    directed=False, reduction="mean", output_transform=lambda x: x, save_details=True)``, arguments as MONAI's
    ``HausdorffDistance`` handler.
    """

    def __init__(
        self,
        include_background: bool = False,
        distance_metric: str = "euclidean",
        percentile: float | None = None,
        directed: bool = False,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = EmptyAwareHausdorffDistanceMetric(
            include_background=include_background,
            distance_metric=distance_metric,
            percentile=percentile,
            directed=directed,
            reduction=reduction,
        )
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class EmptyPredictions(IgniteMetricHandler):
    """Ignite handler of :class:`EmptyPredictionCountMetric`: how many images got an empty prediction.

    ``EmptyPredictions(include_background=False, output_transform=lambda x: x, save_details=True)``; with
    ``save_details`` the per-image 0/1 flags go to ``engine.state.metric_details`` (and so to ``MetricsSaver``).
    """

    def __init__(
        self, include_background: bool = False, output_transform: Callable = lambda x: x, save_details: bool = True
    ) -> None:
        super().__init__(
            metric_fn=EmptyPredictionCountMetric(include_background=include_background),
            output_transform=output_transform,
            save_details=save_details,
        )
