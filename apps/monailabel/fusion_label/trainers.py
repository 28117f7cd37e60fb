# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MONAI Label train task for the segmentation bundle.

MONAI Label's ``BundleTrainTask`` runs the bundle's ``configs/train.json`` (run id ``run``) with the datastore's
image/label pairs as ``train#dataset#data`` and ``validate#dataset#data``. The monai-fusion segmentation bundle also
builds a datalist from its catalogue in ``initialize`` (``datalist_dict``, which may download Kvasir-SEG); this task
overrides ``datalist_dict`` with the same pairs, so training through MONAI Label reads the datastore only, and turns
the device name MONAI Label passes into a ``torch.device``.

Classification bundles are not trainable here: MONAI Label's datastore holds label *files* (masks), and its bundle
train task does not support class labels.
"""

from __future__ import annotations

from typing import Any

import torch
from monailabel.tasks.train.bundle import BundleTrainTask


class SegmentationBundleTrainTask(BundleTrainTask):
    """``BundleTrainTask`` whose datalist comes only from the MONAI Label datastore."""

    def _update_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        training = overrides.get("train#dataset#data", [])
        validation = overrides.get("validate#dataset#data", [])
        overrides["datalist_dict"] = {"training": training, "validation": validation}
        # MONAI Label passes the device name ("cpu", "cuda:0"); the bundle uses torch.device attributes (device.type)
        overrides["device"] = torch.device(overrides.get("device", "cpu"))
        return overrides
