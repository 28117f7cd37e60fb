# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MONAI Label train task for the segmentation bundle.

MONAI Label's ``BundleTrainTask`` runs the bundle's ``configs/train.json`` (run id ``run``) with the datastore's
image/label pairs as ``train#dataset#data`` and ``validate#dataset#data``. The monai-fusion segmentation bundle also
builds a datalist from its catalogue in ``initialize`` (``datalist_dict``, which may download Kvasir-SEG); this task
overrides ``datalist_dict`` with the same pairs, so training through MONAI Label reads the datastore only, and turns
the device name MONAI Label passes into a ``torch.device``. It also fixes what MONAI Label 0.8.5 gets wrong here:

* ``"pretrained": false`` (train from scratch) no longer dies with ``os.path.exists(None)``; ``"pretrained": true``
  without ``models/model.pt`` (the first training) starts from scratch instead of failing;
* few labels: at least :data:`MIN_LABELS` labelled images are required (one to train, one to validate:
  ``models/model.pt`` is the best validation Dice), at least one goes to validation, and the batch size shrinks to the
  number of training pairs (the bundle's ``drop_last`` loader would otherwise be empty and the task "DONE" with nothing
  trained);
* a training that writes no weights fails (the task ends in ``ERROR``) instead of reporting ``DONE``;
* ``model_filename`` must be a plain file name in ``models/``.

Classification bundles are not trainable here: MONAI Label's datastore holds label *files* (masks), and its bundle
train task does not support class labels.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import torch
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.train.bundle import BundleTrainTask

from .security import RequestRefusedError, check_name

logger = logging.getLogger(__name__)

#: labelled images needed to train: one training pair and one validation pair.
MIN_LABELS = 2


def check_train_request(request: dict[str, Any], labelled: int) -> None:
    """Refuse a training request that cannot train anything.

    Args:
        request: the train request (``max_epochs``, ``val_split``, ``model_filename``...).
        labelled: the number of labelled images in the datastore.

    Raises:
        RequestRefusedError: 422 with fewer than :data:`MIN_LABELS` labelled images, 400 for a bad parameter.
    """
    if labelled < MIN_LABELS:
        raise RequestRefusedError(
            422,
            f"training needs at least {MIN_LABELS} labelled images (one to train, one to validate: models/model.pt is "
            f"the best validation Dice); the datastore has {labelled}. Save more labels with PUT /datastore/label",
        )
    name = request.get("model_filename", "model.pt")
    check_name(name if isinstance(name, str) else name[0], "model_filename")
    epochs = request.get("max_epochs", 50)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise RequestRefusedError(400, f"max_epochs {epochs!r}: give a positive integer")
    val_split = request.get("val_split", 0.2)
    if not isinstance(val_split, (int, float)) or not 0.0 < val_split < 1.0:
        raise RequestRefusedError(400, f"val_split {val_split!r}: give a fraction between 0 and 1 (e.g. 0.2)")


class SegmentationBundleTrainTask(BundleTrainTask):
    """``BundleTrainTask`` whose datalist comes only from the MONAI Label datastore (see the module docstring)."""

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict:
        """Check the request and the labels, train, and fail unless ``models/<model_filename>`` was written."""
        check_train_request(request, len(datastore.datalist()))
        weights = os.path.join(self.bundle_path, "models", "model.pt")
        start = time.time()
        result = super().__call__(request, datastore)
        if not os.path.isfile(weights) or os.path.getmtime(weights) < start:
            raise RuntimeError(
                f"training finished without writing {weights}: no validation round ran (check max_epochs and "
                "val_split) or the validation Dice was never computed; see the training log"
            )
        return result

    def _load_checkpoint(self, model_pytorch: str | None, pretrained: bool, train_handlers: list) -> None:
        """Start from ``model_pytorch`` when ``pretrained`` and it exists, else from scratch (no TypeError on None)."""
        if pretrained and model_pytorch and os.path.isfile(model_pytorch):
            super()._load_checkpoint(model_pytorch, pretrained, train_handlers)
        else:
            logger.info("training from scratch (pretrained=%s; %s is not a file)", pretrained, model_pytorch)

    def _partition_datalist(self, datalist: list, request: dict[str, Any], shuffle: bool = False) -> tuple:
        """MONAI Label's split, with at least one validation and one training pair."""
        train, val = super()._partition_datalist(datalist, request, shuffle)
        train, val = list(train), list(val or [])
        if not val and len(train) >= MIN_LABELS:
            val.append(train.pop())
        return train, val

    def _update_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        training = overrides.get("train#dataset#data", [])
        validation = overrides.get("validate#dataset#data", [])
        overrides["datalist_dict"] = {"training": training, "validation": validation}
        # MONAI Label passes the device name ("cpu", "cuda:0"); the bundle uses torch.device attributes (device.type)
        overrides["device"] = torch.device(overrides.get("device", "cpu"))
        batch_size = self.bundle_config.get("batch_size")
        if isinstance(batch_size, int) and 0 < len(training) < batch_size:
            logger.info("batch_size %d -> %d (training pairs in the datastore)", batch_size, len(training))
            overrides["batch_size"] = len(training)
        return overrides
