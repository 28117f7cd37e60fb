# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""ReseedEachEpoch: an engine started at epoch k (a resumed run, in a fresh random state) sees the same shuffled
batches and the same random augmentations in epochs k.. as an engine that ran from epoch 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, RandFlipd, RandGaussianNoised
from torch.utils.data import WeightedRandomSampler

from monai_fusion.handlers import ReseedEachEpoch, seed_for_epoch


def _loader(sampler: str) -> DataLoader:
    images = [{"image": np.full((1, 4, 4), k, dtype=np.float32), "id": k} for k in range(8)]
    transform = Compose([RandFlipd("image", prob=0.5, spatial_axis=0), RandGaussianNoised("image", prob=1.0)])
    dataset = Dataset(images, transform)
    if sampler == "weighted":
        weighted = WeightedRandomSampler([1.0] * 8, 8, generator=torch.Generator().manual_seed(0))
        return DataLoader(dataset, batch_size=4, sampler=weighted)
    return DataLoader(dataset, batch_size=4, shuffle=True)


def _epochs(start_epoch: int, reseed: bool, sampler: str, scramble: int) -> dict[int, list[torch.Tensor]]:
    """Run to epoch 3 from ``start_epoch`` (as a resume does), after putting the global RNGs in a state of its own."""
    torch.manual_seed(scramble)
    np.random.seed(scramble)  # noqa: NPY002 - the legacy global state is what is under test
    loader = _loader(sampler)
    seen: dict[int, list[torch.Tensor]] = {}
    engine = Engine(lambda e, batch: seen.setdefault(e.state.epoch, []).append(batch["image"].clone()))
    if reseed:
        ReseedEachEpoch(seed=7, loader=loader).attach(engine)

    @engine.on(Events.STARTED)
    def _resume(e: Engine) -> None:
        e.state.epoch = start_epoch - 1
        e.state.iteration = (start_epoch - 1) * len(loader)

    engine.run(loader, max_epochs=3)
    return seen


@pytest.mark.parametrize("sampler", ["shuffle", "weighted"])
def test_resumed_epochs_repeat_the_uninterrupted_ones(sampler: str) -> None:
    straight = _epochs(1, True, sampler, scramble=1)
    resumed = _epochs(2, True, sampler, scramble=2)
    assert sorted(resumed) == [2, 3]
    for epoch in (2, 3):
        for a, b in zip(straight[epoch], resumed[epoch], strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(straight[2][0], straight[3][0]), "each epoch must get its own randomness"


def test_without_the_handler_a_resume_diverges() -> None:
    straight = _epochs(1, False, "shuffle", scramble=1)
    resumed = _epochs(2, False, "shuffle", scramble=2)
    assert not all(torch.equal(a, b) for a, b in zip(straight[2], resumed[2], strict=True))


def test_seed_depends_on_seed_epoch_and_rank() -> None:
    values = {seed_for_epoch(s, e, r) for s in (0, 1) for e in (1, 2) for r in (0, 1)}
    assert len(values) == 8 and all(0 <= v < 2**32 for v in values)
    assert seed_for_epoch(3, 4, 1) == seed_for_epoch(3, 4, 1)
