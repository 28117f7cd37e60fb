# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Reseed every random source of a training epoch from ``(seed, epoch, rank)`` (resume reproducibility).

Written for this project (docs/reliability.md); no code copied. ``monai.utils.set_determinism`` seeds the process
once, in ``initialize``. Without more, the random state at the start of epoch ``k`` is whatever epochs ``1..k-1`` left
behind, so a run resumed from the checkpoint of epoch ``k-1`` (a new process) shuffles and augments epoch ``k``
differently from the uninterrupted run. :class:`ReseedEachEpoch` makes epoch ``k``'s randomness a function of
``(seed, k, rank)`` only, so an interrupted-and-resumed run repeats the uninterrupted run exactly (on CPU, with the
same thread settings), whatever point it was killed at.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import torch
from monai.data.utils import set_rnd
from monai.utils import IgniteInfo, min_version, optional_import

if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")

__all__ = ["ReseedEachEpoch", "seed_for_epoch"]


def seed_for_epoch(seed: int, epoch: int, rank: int = 0) -> int:
    """A 32-bit seed that depends only on ``(seed, epoch, rank)`` (NumPy ``SeedSequence`` mixing, so nearby inputs
    give unrelated seeds).

    Args:
        seed: the run's seed (the bundles' ``seed``).
        epoch: the 1-based epoch.
        rank: the process rank under ``torchrun`` (0 otherwise).
    """
    return int(np.random.SeedSequence([int(seed), int(epoch), int(rank)]).generate_state(1)[0])


class ReseedEachEpoch:
    """At ``EPOCH_STARTED``, reseed the epoch's random sources from ``seed_for_epoch(seed, epoch, rank)``.

    Reseeded, in this order, before the engine creates the epoch's data iterator (ignite creates it after the
    ``EPOCH_STARTED`` handlers):

    * the global ``torch``, ``numpy`` and ``random`` generators: the ``DataLoader``'s ``shuffle=True`` order, the base
      seed of worker processes (MONAI's ``worker_init_fn`` seeds each worker's transforms from it), dropout/drop-path;
    * the data loader's own ``generator`` and the sampler's ``generator`` (e.g. ``WeightedRandomSampler``), when set;
    * with ``num_workers == 0``, the MONAI ``Randomizable`` transforms of the loader's dataset (``set_rnd``), which
      ``monai.data.DataLoader`` otherwise seeds only once, when it is built.

    A ``DistributedSampler`` needs nothing more: MONAI's workflows call its ``set_epoch`` at ``EPOCH_STARTED``.
    Persistent workers (``persistent_workers=True``) keep their own state across epochs and are not reseeded.

    Args:
        seed: the run's seed.
        loader: the training data loader; None uses the engine's ``state.dataloader`` (its ``data_loader``).
        rank: process rank mixed into the seed; None reads it from ``ignite.distributed`` (0 without a group).
    """

    def __init__(self, seed: int = 0, loader: torch.utils.data.DataLoader | None = None, rank: int | None = None):
        self.seed = int(seed)
        self.loader = loader
        self.rank = rank

    def attach(self, engine: Engine) -> None:
        """Register :meth:`__call__` on ``EPOCH_STARTED`` of ``engine`` (once)."""
        if not engine.has_event_handler(self, Events.EPOCH_STARTED):
            engine.add_event_handler(Events.EPOCH_STARTED, self)

    def __call__(self, engine: Engine) -> None:
        """Reseed for ``engine.state.epoch``."""
        rank = self.rank if self.rank is not None else idist.get_rank()
        value = seed_for_epoch(self.seed, engine.state.epoch, rank)
        torch.manual_seed(value)
        np.random.seed(value)  # noqa: NPY002 - the legacy global state is what third-party code draws from
        random.seed(value)
        loader = self.loader if self.loader is not None else getattr(engine, "data_loader", None)
        if loader is None:
            loader = engine.state.dataloader
        if loader is None:
            return
        generator = getattr(loader, "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(value)
        sampler_generator = getattr(getattr(loader, "sampler", None), "generator", None)
        if isinstance(sampler_generator, torch.Generator):
            sampler_generator.manual_seed(value)
        if getattr(loader, "num_workers", 0) == 0 and getattr(loader, "dataset", None) is not None:
            set_rnd(loader.dataset, value)
