# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The monai-fusion MONAI Label app class, :class:`FusionApp` (loaded by MONAI Label through ``main.py``).

``--conf`` keys read here: ``models`` (comma-separated bundle folder names, default: every bundle with weights),
``bundle_path`` (extra folders searched first), ``zoo_source`` (``local`` only), ``skip_trainers`` (``true`` to offer
no training), ``preload``; ``sam2`` is accepted and ignored (no SAM2 task). The server-side settings
``cors_origins``, ``infer_concurrency``, ``infer_queue`` are read by :mod:`fusion_label.server`, ``auth_token`` by
``serve.py``.

Every bundle with ``configs/train.json`` gets a trainer: segmentation bundles train on masks, classification bundles
on class labels (``{"label": "<class name>"}`` JSON files, :mod:`fusion_label.labels`).

The app's datastore refuses ids, tags and files that could write outside the studies folder
(:mod:`fusion_label.datastore`); its ``infer`` reads datastore images and uploads only; ``/info/`` marks untrained
models and lists the segmentation labels as the viewer labels. Import it after
:func:`fusion_label.compat.patch_pydicom_seg`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask
from monailabel.utils.others.generic import strtobool

import monai_fusion  # also registers the networks and transforms the bundle configs name

from .bundles import CLASSIFICATION, SEGMENTATION, resolve_bundles
from .datastore import FusionDatastore
from .infers import (
    ClassificationBundleInferTask,
    CTSegmentationBundleInferTask,
    SegmentationBundleInferTask,
    UntrainedInferTask,
)
from .security import RequestRefusedError, check_inside, upload_dir
from .trainers import ClassificationBundleTrainTask, FusionBundleTrainTask, SegmentationBundleTrainTask

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

    def init_datastore(self) -> Datastore:
        """A :class:`~fusion_label.datastore.FusionDatastore` over ``--studies`` (a local folder only)."""
        if self.studies.startswith(("http://", "https://")):
            raise ValueError(
                f"--studies {self.studies}: the monai-fusion app serves a local studies folder only; give a folder"
            )
        return FusionDatastore(
            self.studies,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def info(self) -> dict[str, Any]:
        """MONAI Label's info, each model with ``"trained"``, the top-level ``labels`` those a viewer shows as segments.

        MONAI Label merges every model's labels there (8 Kvasir classes, 7 HAM10000 classes and ``polyp``); a segment
        editor would offer class names as segments. Class names stay in each classification model's ``labels``.
        """
        self._refresh()
        meta = super().info()
        for model in meta["models"].values():
            model.setdefault("trained", True)
        labels: list[str] = []
        for model in meta["models"].values():
            if model.get("type") == SEGMENTATION and isinstance(model.get("labels"), dict):
                for name, _ in sorted(model["labels"].items(), key=lambda item: item[1]):
                    if name not in labels:
                        labels.append(name)
        meta["labels"] = labels
        return meta

    def infer(self, request: dict[str, Any], datastore: Datastore | None = None) -> dict[str, Any]:
        """MONAI Label's ``infer`` on a known model and an image that is a datastore id or an uploaded file.

        Raises:
            RequestRefusedError: 404 for an unknown model or image id; 409 for a model without weights; 400 for a path
                outside the datastore, the upload folder and the session store (``/etc/passwd``, any other file).
        """
        model = request.get("model")
        if model not in self._infers:
            raise RequestRefusedError(404, f"unknown model {model!r}; available: {sorted(self._infers)}")
        self._refresh()
        if isinstance(self._infers[model], UntrainedInferTask):
            self._infers[model](request)  # raises 409: untrained
        image = request.get("image")
        if isinstance(image, str):
            store = datastore if datastore else self.datastore()
            uri = store.get_image_uri(image) if "/" not in image and "\\" not in image else ""
            if uri:
                if os.path.exists(image):  # an id that is also a path relative to the working folder: use the uri
                    request = {**request, "image": uri}
            elif "/" in image or "\\" in image:
                roots = [upload_dir()] + ([self._sessions.store_path] if self._sessions else [])
                check_inside(image, *roots)
            else:
                raise RequestRefusedError(404, f"unknown image id {image!r}; GET /datastore/?output=all lists the ids")
        return super().infer(request, datastore)

    def init_infers(self) -> dict[str, InferTask]:
        """One infer task per bundle, named after its folder."""
        return {name: self._infer_task(name) for name in self.bundles}

    def _infer_task(self, name: str) -> InferTask:
        """The bundle's infer task, or an :class:`UntrainedInferTask` while it has no weights."""
        bundle = self.bundles[name]
        if not bundle.weights.is_file():
            return UntrainedInferTask(name, str(bundle.path), bundle.task)
        task_class = {CLASSIFICATION: ClassificationBundleInferTask, SEGMENTATION: SegmentationBundleInferTask}
        if bundle.ct:
            task_class = {SEGMENTATION: CTSegmentationBundleInferTask}
        task = task_class[bundle.task](str(bundle.path), self.conf)
        if not task.is_valid():
            raise RuntimeError(f"MONAI Label rejected bundle {name!r} at {bundle.path}; see the log above.")
        return task

    def _refresh(self) -> None:
        """Swap in the real infer task of a bundle whose weights appeared (training through the server wrote them)."""
        for name, task in list(self._infers.items()):
            if isinstance(task, UntrainedInferTask) and task.weights.is_file():
                logger.info("bundle %r has weights now (%s): serving it", name, task.weights)
                self._infers[name] = self._infer_task(name)

    def init_trainers(self) -> dict[str, TrainTask]:
        """A train task per bundle with ``configs/train.json`` (unless ``--conf skip_trainers true``).

        Each writes its progress to ``<app dir>/train_progress/<model>.json`` (:func:`progress_file`).
        """
        if strtobool(self.conf.get("skip_trainers", "false")):
            return {}
        trainers: dict[str, TrainTask] = {}
        task_class = {CLASSIFICATION: ClassificationBundleTrainTask, SEGMENTATION: SegmentationBundleTrainTask}
        for name, bundle in self.bundles.items():
            if bundle.ct:  # CT models are trained with train_ct.json outside the server
                continue
            task: FusionBundleTrainTask = task_class[bundle.task](str(bundle.path), self.conf)
            if task.is_valid():
                task.progress_file = self.progress_file(name)
                trainers[name] = task
        return trainers

    def progress_file(self, model: str) -> str:
        """Where the training of ``model`` writes its progress (``GET /train/`` reads it)."""
        return os.path.join(self.app_dir, "train_progress", f"{model}.json")
