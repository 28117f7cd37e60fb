# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The monai-fusion MONAI Label app: serves the bundles of ``bundles/`` (or copies of them) for inference, and the
segmentation bundle for training.

Start it with ``python apps/monailabel/serve.py --studies DIR --conf models a,b`` (binds to 127.0.0.1); see
``docs/monailabel.md``. ``--conf`` keys read here: ``models`` (comma-separated bundle folder names, default: every
bundle with weights), ``bundle_path`` (extra folders searched first), ``zoo_source`` (``local`` only),
``skip_trainers`` (``true`` to offer no training), ``preload``; ``sam2`` is accepted and ignored (no SAM2 task).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # MONAI Label loads main.py by file path
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion_label.compat import patch_pydicom_seg  # noqa: E402

patch_pydicom_seg()

from fusion_label.bundles import CLASSIFICATION, SEGMENTATION, resolve_bundles  # noqa: E402
from fusion_label.infers import ClassificationBundleInferTask, SegmentationBundleInferTask  # noqa: E402
from fusion_label.trainers import SegmentationBundleTrainTask  # noqa: E402
from monailabel.interfaces.app import MONAILabelApp  # noqa: E402
from monailabel.interfaces.tasks.infer_v2 import InferTask  # noqa: E402
from monailabel.interfaces.tasks.train import TrainTask  # noqa: E402
from monailabel.utils.others.generic import strtobool  # noqa: E402

import monai_fusion  # noqa: E402  (registers the networks and transforms the bundle configs name)

logger = logging.getLogger(__name__)


class FusionApp(MONAILabelApp):
    """MONAI Label app over the monai-fusion bundles (classification and segmentation)."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.bundles = resolve_bundles(app_dir, conf)
        logger.info("monai-fusion bundles: %s", {n: (str(b.path), b.task) for n, b in self.bundles.items()})
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="monai-fusion bundles",
            description="CDFINet, HiFuse, MedMamba, MFSF2-Net classification and MFSF2-Net polyp segmentation",
            version=monai_fusion.__version__,
        )

    def init_infers(self) -> dict[str, InferTask]:
        """One infer task per bundle, named after its folder."""
        task_class = {CLASSIFICATION: ClassificationBundleInferTask, SEGMENTATION: SegmentationBundleInferTask}
        infers: dict[str, InferTask] = {}
        for name, bundle in self.bundles.items():
            task = task_class[bundle.task](str(bundle.path), self.conf)
            if not task.is_valid():
                raise RuntimeError(f"MONAI Label rejected bundle {name!r} at {bundle.path}; see the log above.")
            infers[name] = task
        return infers

    def init_trainers(self) -> dict[str, TrainTask]:
        """A train task per segmentation bundle (unless ``--conf skip_trainers true``)."""
        if strtobool(self.conf.get("skip_trainers", "false")):
            return {}
        trainers: dict[str, TrainTask] = {}
        for name, bundle in self.bundles.items():
            if bundle.task == SEGMENTATION:
                task = SegmentationBundleTrainTask(str(bundle.path), self.conf)
                if task.is_valid():
                    trainers[name] = task
        return trainers
