# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MONAI Label train tasks for the monai-fusion bundles (segmentation and classification).

MONAI Label's ``BundleTrainTask`` runs the bundle's ``configs/train.json`` (run id ``run``) with the datastore's
labelled images as ``train#dataset#data`` and ``validate#dataset#data``. The monai-fusion bundles also build a datalist
from their catalogue (``datalist_dict``, which may download a dataset); these tasks override ``datalist_dict`` with the
datastore's items, so training through MONAI Label reads the datastore only, and turn the device name MONAI Label
passes into a ``torch.device``:

* :class:`SegmentationBundleTrainTask`: items ``{image, label}`` whose label is a mask (an image file);
* :class:`ClassificationBundleTrainTask`: items ``{image, label}`` whose label is a class-label file
  ``{"label": "<class name>"}`` (:mod:`fusion_label.labels`), turned into the class index of the bundle's
  ``class_names`` (``configs/train.json``, else ``metadata.json``'s ``channel_def``); an unknown class name is
  refused (422) with the valid names.

They also fix what MONAI Label 0.8.5 gets wrong here:

* ``"pretrained": false`` (train from scratch) no longer dies with ``os.path.exists(None)``; ``"pretrained": true``
  without ``models/model.pt`` (the first training) starts from scratch instead of failing;
* few labels: at least :data:`MIN_LABELS` labelled images are required (one to train, one to validate:
  ``models/model.pt`` is the best validation round), at least one goes to validation, and the training batch size
  shrinks to the number of training items (the bundles' ``drop_last`` loaders would otherwise be empty and the task
  "DONE" with nothing trained);
* a training that writes no weights fails (the task ends in ``ERROR``) instead of reporting ``DONE``;
* ``model_filename`` must be a plain file name in ``models/``;
* progress: when the app sets :attr:`FusionBundleTrainTask.progress_file`, a
  :class:`~fusion_label.progress.TrainingProgress` handler writes epoch, loss and validation metrics there, and the
  server shows them in ``GET /train/``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import torch
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.train.bundle import BundleTrainTask

from .labels import CLASS_LABEL_EXTENSION, bundle_class_names, class_index, is_class_label, read_class_label
from .security import RequestRefusedError, check_name

logger = logging.getLogger(__name__)

#: labelled images needed to train: one training pair and one validation pair.
MIN_LABELS = 2


def check_train_request(request: dict[str, Any], labelled: int, best_metric: str = "validation metric") -> None:
    """Refuse a training request that cannot train anything.

    Args:
        request: the train request (``max_epochs``, ``val_split``, ``model_filename``...).
        labelled: the number of images in the datastore labelled for this model (masks or class labels).
        best_metric: what ``models/model.pt`` keeps, for the message (``"validation Dice"``).

    Raises:
        RequestRefusedError: 422 with fewer than :data:`MIN_LABELS` labelled images, 400 for a bad parameter.
    """
    if labelled < MIN_LABELS:
        raise RequestRefusedError(
            422,
            f"training needs at least {MIN_LABELS} labelled images (one to train, one to validate: models/model.pt is "
            f"the best {best_metric}); the datastore has {labelled} for this model. Save more labels with "
            "PUT /datastore/label",
        )
    name = request.get("model_filename", "model.pt")
    check_name(name if isinstance(name, str) else name[0], "model_filename")
    epochs = request.get("max_epochs", 50)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise RequestRefusedError(400, f"max_epochs {epochs!r}: give a positive integer")
    val_split = request.get("val_split", 0.2)
    if not isinstance(val_split, (int, float)) or not 0.0 < val_split < 1.0:
        raise RequestRefusedError(400, f"val_split {val_split!r}: give a fraction between 0 and 1 (e.g. 0.2)")


class FusionBundleTrainTask(BundleTrainTask):
    """``BundleTrainTask`` whose datalist comes only from the MONAI Label datastore (see the module docstring).

    Subclasses say which datastore labels they train on (:meth:`labelled`), how an item is built
    (:meth:`build_datalist`) and which ``train.json`` key holds the training batch size (:attr:`batch_size_key`).
    """

    #: ``train.json`` key of the training batch size.
    batch_size_key = "batch_size"
    #: what ``models/model.pt`` keeps, for messages.
    best_metric = "validation metric"
    #: the progress file (set by the app; None: no progress is written).
    progress_file: str | None = None

    def labelled(self, datastore: Datastore) -> list[dict[str, Any]]:
        """The datastore's ``{image, label}`` items this task trains on."""
        raise NotImplementedError

    def build_datalist(self, datastore: Datastore) -> list[dict[str, Any]]:
        """The training items (``{image, label}``) the bundle reads."""
        return [{"image": d["image"], "label": d["label"]} for d in self.labelled(datastore)]

    def check_request(self, request: dict[str, Any], datastore: Datastore) -> None:
        """Refuse (4xx) a request that cannot train: too few labels, bad parameters, labels the model cannot take."""
        check_train_request(request, len(self.labelled(datastore)), self.best_metric)
        self.build_datalist(datastore)

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict:
        """Check the request and the labels, train, and fail unless ``models/<model_filename>`` was written."""
        self.check_request(request, datastore)
        self._model = request.get("model", "")
        if self.progress_file and os.path.exists(self.progress_file):
            os.remove(self.progress_file)
        weights = os.path.join(self.bundle_path, "models", "model.pt")
        start = time.time()
        result = super().__call__(request, datastore)
        if not os.path.isfile(weights) or os.path.getmtime(weights) < start:
            raise RuntimeError(
                f"training finished without writing {weights}: no validation round ran (check max_epochs and "
                f"val_split) or the {self.best_metric} was never computed; see the training log"
            )
        return result

    def _fetch_datalist(self, request: dict[str, Any], datastore: Datastore) -> list[dict[str, Any]]:
        return self.build_datalist(datastore)

    def _load_checkpoint(self, model_pytorch: str | None, pretrained: bool, train_handlers: list) -> None:
        """Start from ``model_pytorch`` when ``pretrained`` and it exists, else from scratch (no TypeError on None)."""
        if pretrained and model_pytorch and os.path.isfile(model_pytorch):
            super()._load_checkpoint(model_pytorch, pretrained, train_handlers)
        else:
            logger.info("training from scratch (pretrained=%s; %s is not a file)", pretrained, model_pytorch)

    def _partition_datalist(self, datalist: list, request: dict[str, Any], shuffle: bool = False) -> tuple:
        """MONAI Label's split, with at least one validation and one training item."""
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
        batch_size = self.bundle_config.get(self.batch_size_key)
        if isinstance(batch_size, int) and 0 < len(training) < batch_size:
            logger.info("%s %d -> %d (training items in the datastore)", self.batch_size_key, batch_size, len(training))
            overrides[self.batch_size_key] = len(training)
        if "progress_bar" in self.bundle_config.get():
            overrides["progress_bar"] = False  # a console bar: unreadable in the task's log lines
        if self.progress_file:
            progress = {
                "_target_": "fusion_label.progress.TrainingProgress",
                "path": self.progress_file,
                "model": getattr(self, "_model", ""),
                "validator": "@validate#evaluator",
            }
            overrides["train#handlers"] = [*overrides.get("train#handlers", []), progress]
        return overrides


class SegmentationBundleTrainTask(FusionBundleTrainTask):
    """Trains a segmentation bundle on the datastore's masks (labels that are image files)."""

    best_metric = "validation Dice"

    def labelled(self, datastore: Datastore) -> list[dict[str, Any]]:
        """The datastore's items whose ``final`` label is a mask (not a ``.json`` class label)."""
        return [d for d in datastore.datalist() if d and not is_class_label(d["label"])]


class ClassificationBundleTrainTask(FusionBundleTrainTask):
    """Trains a classification bundle on the datastore's class labels (``{"label": "<class name>"}`` files)."""

    batch_size_key = "train_batch_size"
    best_metric = "validation accuracy"

    def class_names(self) -> list[str]:
        """The class names the bundle trains with, index order (``train.json``, else ``metadata.json``)."""
        return bundle_class_names(self.bundle_path, self.bundle_config.get(), use_record=False)

    def labelled(self, datastore: Datastore) -> list[dict[str, Any]]:
        """The datastore's items whose ``final`` label is a class label (``.json``)."""
        return [d for d in datastore.datalist() if d and is_class_label(d["label"])]

    def build_datalist(self, datastore: Datastore) -> list[dict[str, Any]]:
        """``{image, label: class index}`` items; 422 for a class name the bundle does not have."""
        names = self.class_names()
        items = []
        for d in self.labelled(datastore):
            image_id = os.path.basename(d["label"])[: -len(CLASS_LABEL_EXTENSION)]
            label = read_class_label(d["label"], f"the label file of image {image_id!r} ({d['label']})")
            items.append({"image": d["image"], "label": class_index(label, names, image_id)})
        return items

    def _update_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        overrides = super()._update_overrides(overrides)
        # the bundles' datalists carry the class names: class weights and samplers count every class from them
        names = self.class_names()
        overrides["datalist_dict"].update(class_names=names, num_classes=len(names))
        return overrides
