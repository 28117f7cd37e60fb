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
"""Class-imbalance remedies for classification datalists: inverse-frequency class weights and the training sampler.

Used by the classification bundles (``imbalance`` setting: ``"none"``, ``"weighted_loss"``, ``"weighted_sampler"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler, WeightedRandomSampler

__all__ = ["IMBALANCE_MODES", "build_train_sampler", "class_weights"]

#: values of the bundles' ``imbalance`` setting.
IMBALANCE_MODES = ("none", "weighted_loss", "weighted_sampler")


def _class_counts(datalist: Mapping[str, Any], section: str) -> np.ndarray:
    n_classes = int(datalist.get("num_classes", len(datalist.get("class_names", []))))
    labels = [int(item["label"]) for item in datalist.get(section, [])]
    return np.bincount(labels, minlength=n_classes).astype(np.float64)


def class_weights(datalist: Mapping[str, Any], section: str = "training") -> torch.Tensor:
    """Inverse-frequency class weights ``n / (K * n_c)`` from the class counts of ``section``.

    A balanced set gets all ones; a class absent from ``section`` gets weight 0 (it never appears as a target).

    Args:
        datalist: a classification datalist.
        section: the section whose labels are counted.

    Returns:
        float32 tensor (K,), for ``torch.nn.CrossEntropyLoss(weight=...)``.
    """
    counts = _class_counts(datalist, section)
    if counts.sum() == 0:
        raise ValueError(f"the datalist section {section!r} has no labelled items to compute class weights from.")
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.as_tensor(weights, dtype=torch.float32)


def build_train_sampler(
    datalist: Mapping[str, Any],
    imbalance: str = "none",
    *,
    dataset: torch.utils.data.Dataset | None = None,
    distributed: bool = False,
    seed: int = 0,
) -> Sampler | None:
    """The training sampler for the ``imbalance`` mode.

    * ``"weighted_sampler"``: ``WeightedRandomSampler`` drawing ``len(training)`` items with replacement, each with
      probability proportional to ``1 / n_class`` (classes are seen equally often); single process only.
    * otherwise: ``monai.data.DistributedSampler(dataset, shuffle=True)`` when ``distributed``, else None (the data
      loader shuffles).

    Args:
        datalist: a classification datalist.
        imbalance: one of :data:`IMBALANCE_MODES`.
        dataset: the training dataset (needed when ``distributed``).
        distributed: whether the run is under ``torchrun``.
        seed: seed of the weighted sampler's generator.
    """
    if imbalance not in IMBALANCE_MODES:
        raise ValueError(f"imbalance must be one of {IMBALANCE_MODES}, got {imbalance!r}.")
    if imbalance == "weighted_sampler":
        if distributed:
            raise ValueError(
                "imbalance='weighted_sampler' is single-process only; use imbalance='weighted_loss' with "
                "multi_gpu_train.json."
            )
        counts = _class_counts(datalist, "training")
        labels = [int(item["label"]) for item in datalist["training"]]
        weights = [1.0 / counts[label] for label in labels]
        generator = torch.Generator().manual_seed(seed)
        return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=generator)
    if distributed:
        if dataset is None:
            raise ValueError("dataset is required to build a DistributedSampler.")
        from monai.data import DistributedSampler

        return DistributedSampler(dataset, shuffle=True, even_divisible=True)
    return None
