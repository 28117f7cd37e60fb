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
"""GroupedStratifiedSplitter: whole groups, matched class proportions, determinism, k-fold."""

from __future__ import annotations

import numpy as np
import pytest

from monai_fusion.data.splits import GroupedStratifiedSplitter


def _synthetic(seed: int = 0, n_groups: int = 400):
    """Groups of 1-6 samples; class imbalance 70/20/10; a few groups mix two classes."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for g in range(n_groups):
        cls = rng.choice(["a", "b", "c"], p=[0.7, 0.2, 0.1])
        for _ in range(int(rng.integers(1, 7))):
            labels.append(cls if rng.random() > 0.05 else "c")
            groups.append(f"g{g}")
    return np.array(labels), np.array(groups)


def _max_proportion_gap(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    classes = np.unique(labels)
    overall = np.array([np.mean(labels == c) for c in classes])
    return max(np.abs(np.array([np.mean(labels[p] == c) for c in classes]) - overall).max() for p in parts)


def test_groups_never_cross_splits_and_proportions_match():
    labels, groups = _synthetic()
    parts = GroupedStratifiedSplitter((0.8, 0.1, 0.1), seed=0).split(labels, groups)
    assert sum(len(p) for p in parts) == len(labels)
    assert len(np.unique(np.concatenate(parts))) == len(labels)  # a partition
    for i in range(3):
        for j in range(i + 1, 3):
            assert not set(groups[parts[i]]) & set(groups[parts[j]])
    sizes = np.array([len(p) for p in parts]) / len(labels)
    np.testing.assert_allclose(sizes, [0.8, 0.1, 0.1], atol=0.01)
    assert _max_proportion_gap(labels, parts) < 0.02


def test_deterministic_order_independent_and_seeded():
    labels, groups = _synthetic()
    a = GroupedStratifiedSplitter(seed=3).assign(labels, groups)
    b = GroupedStratifiedSplitter(seed=3).assign(labels, groups)
    np.testing.assert_array_equal(a, b)
    perm = np.random.default_rng(1).permutation(len(labels))
    shuffled = GroupedStratifiedSplitter(seed=3).assign(labels[perm], groups[perm])
    np.testing.assert_array_equal(shuffled, a[perm])
    other = GroupedStratifiedSplitter(seed=4).assign(labels, groups)
    assert (other != a).mean() > 0.05  # another seed gives another split


def test_kfold_equal_stratified_folds():
    labels, groups = _synthetic(seed=2)
    folds = GroupedStratifiedSplitter.kfold(5, seed=0).assign(labels, groups)
    parts = [np.flatnonzero(folds == k) for k in range(5)]
    sizes = np.array([len(p) for p in parts]) / len(labels)
    np.testing.assert_allclose(sizes, 0.2, atol=0.01)
    assert _max_proportion_gap(labels, parts) < 0.02
    for k in range(5):  # every group in exactly one fold
        assert not set(groups[parts[k]]) & set(groups[folds != k])


def test_zero_fraction_split_stays_empty_and_tiny_sets_fill_every_split():
    labels, groups = _synthetic(n_groups=50)
    parts = GroupedStratifiedSplitter((0.9, 0.1, 0.0)).split(labels, groups)
    assert len(parts[2]) == 0 and len(parts[1]) > 0
    tiny = GroupedStratifiedSplitter((0.8, 0.1, 0.1)).split(["x"] * 10, [f"g{i}" for i in range(10)])
    assert [len(p) for p in tiny] == [8, 1, 1]


@pytest.mark.parametrize(
    "kwargs",
    [{"fractions": (0.8, 0.3, 0.1)}, {"fractions": (1.0,)}, {"fractions": (0.9, -0.1, 0.2)}, {"seed": 1.5}],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        GroupedStratifiedSplitter(**kwargs)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="same length"):
        GroupedStratifiedSplitter().assign([0, 1], ["a"])
    with pytest.raises(ValueError, match="at least one group"):
        GroupedStratifiedSplitter().assign([0, 1], ["a", "a"])
    with pytest.raises(ValueError, match="n_folds"):
        GroupedStratifiedSplitter.kfold(1)
