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
"""Leak-free splits: stratified by class **and** grouped, so that no lesion, patient or case crosses splits.

Medical sets hold several images per lesion or patient (HAM10000 ``lesion_id``, Kermany ``personN`` / ``IM-xxxx``,
BreakHis patient ids). A split by image lets the network see the same lesion in training and test, which inflates
test scores. :class:`GroupedStratifiedSplitter` assigns whole groups to splits (8:1:1 by default, or k equal folds for
cross-validation) and keeps every split's class proportions close to the overall ones.

Algorithm (written for this project with numpy; the idea is the greedy one of scikit-learn's ``StratifiedGroupKFold``
generalised to unequal split fractions, no code copied): groups are visited largest first (ties in a seeded random
order) and each goes to the split where it least increases a chi-square distance to the targets: the squared deviation
of every (split, class) count from its expected count, divided by that expected count (so rare classes weigh as much as
common ones), plus the same term for each split's size weighted by the number of classes (so that small sets still
fill every split).
A group whose images carry several classes (e.g. a BreakHis patient with two tumour types) counts toward each.
The result is deterministic for a given seed and input, and independent of the input order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["GroupedStratifiedSplitter"]


class GroupedStratifiedSplitter:
    """Assign samples to splits so that groups stay whole and class proportions match across splits.

    Example::

        splitter = GroupedStratifiedSplitter((0.8, 0.1, 0.1), seed=0)
        train_idx, val_idx, test_idx = splitter.split(labels, groups)
        folds = GroupedStratifiedSplitter.kfold(5, seed=0).assign(labels, groups)  # fold id per sample

    Args:
        fractions: target fraction of samples per split, e.g. ``(0.8, 0.1, 0.1)`` for training / validation / test.
            Non-negative, summing to 1; a zero fraction gives an empty split.
        seed: seed of the random order in which equally sized groups are placed.
    """

    def __init__(self, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> None:
        fractions = tuple(float(f) for f in fractions)
        if len(fractions) < 2:
            raise ValueError(f"fractions needs at least two entries (one per split), got {fractions}.")
        if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0, atol=1e-6):
            raise ValueError(f"fractions must be non-negative and sum to 1 (e.g. (0.8, 0.1, 0.1)), got {fractions}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int, got {seed!r}.")
        self.fractions = fractions
        self.seed = int(seed)

    @classmethod
    def kfold(cls, n_folds: int, seed: int = 0) -> GroupedStratifiedSplitter:
        """A splitter into ``n_folds`` equal folds (stratified group k-fold cross-validation).

        Args:
            n_folds: number of folds, at least 2.
            seed: as in the constructor.
        """
        if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
            raise ValueError(f"n_folds must be an int >= 2, got {n_folds!r}.")
        return cls((1.0 / n_folds,) * int(n_folds), seed=seed)

    def assign(self, labels: Sequence[Hashable], groups: Sequence[Hashable]) -> np.ndarray:
        """Split index (0 .. len(fractions) - 1) of every sample.

        Args:
            labels: class of each sample (any hashable: int or str).
            groups: group of each sample (lesion, patient, case id); samples of one group get the same split.

        Returns:
            int64 array of shape (n_samples,).
        """
        if len(labels) != len(groups):
            raise ValueError(f"labels and groups must have the same length, got {len(labels)} and {len(groups)}.")
        if len(labels) == 0:
            return np.zeros(0, dtype=np.int64)
        _, label_codes = np.unique(np.asarray([str(v) for v in labels]), return_inverse=True)
        group_names, group_codes = np.unique(np.asarray([str(v) for v in groups]), return_inverse=True)
        n_groups, n_classes, n_splits = len(group_names), int(label_codes.max()) + 1, len(self.fractions)
        nonzero = sum(f > 0 for f in self.fractions)
        if n_groups < nonzero:
            raise ValueError(
                f"only {n_groups} groups for {nonzero} non-empty splits: every split needs at least one group; "
                "use fewer splits (fractions / folds) or more data."
            )

        counts = np.zeros((n_groups, n_classes), dtype=np.float64)
        np.add.at(counts, (group_codes, label_codes), 1.0)
        sizes = counts.sum(axis=1)
        class_totals = counts.sum(axis=0)
        fractions = np.asarray(self.fractions)
        class_targets = fractions[:, None] * class_totals[None, :]
        size_targets = fractions * len(labels)
        # chi-square weights: a cell's squared deviation divided by its expected count
        class_weights = 1.0 / np.maximum(class_targets, 1e-12)
        size_weights = n_classes / np.maximum(size_targets, 1e-12)

        rng = np.random.default_rng(self.seed)
        order = rng.permutation(n_groups)
        order = order[np.argsort(-sizes[order], kind="stable")]

        split_counts = np.zeros((n_splits, n_classes), dtype=np.float64)
        split_sizes = np.zeros(n_splits, dtype=np.float64)
        group_split = np.zeros(n_groups, dtype=np.int64)
        # a split with a zero target never receives a group
        forbidden = np.where(fractions > 0, 0.0, np.inf)
        for g in order:
            v = counts[g]
            d = split_counts - class_targets
            delta = (((d + v) ** 2 - d**2) * class_weights).sum(axis=1)
            s = split_sizes - size_targets
            delta = delta + ((s + sizes[g]) ** 2 - s**2) * size_weights + forbidden
            # ties go to the split with the largest relative size deficit
            deficit = (size_targets - split_sizes) / np.maximum(size_targets, 1e-12)
            best = np.lexsort((-deficit, np.round(delta, 12)))[0]
            group_split[g] = best
            split_counts[best] += v
            split_sizes[best] += sizes[g]
        return group_split[group_codes]

    def split(self, labels: Sequence[Hashable], groups: Sequence[Hashable]) -> list[np.ndarray]:
        """Sample indices of each split, in the order of ``fractions``.

        Args:
            labels: class of each sample.
            groups: group of each sample.

        Returns:
            one sorted int64 index array per split.
        """
        assignment = self.assign(labels, groups)
        return [np.flatnonzero(assignment == i) for i in range(len(self.fractions))]
