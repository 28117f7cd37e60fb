# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MONAI Label infer tasks for the monai-fusion bundles.

Both are MONAI Label's ``BundleInferTask`` (network, preprocessing, inferer and postprocessing from the bundle's
``configs/inference.json``, weights from ``models/model.pt``) with ``add_post_restore=False``:

* classification: ``CopyItemsd`` is dropped from the preprocessing (MONAI Label already sets ``image_path``);
  MONAI Label's ``Restored`` would try to resize the ``(K,)`` score vector to the image size and
  fail; the answer is JSON ``{"prediction": [{"idx", "label", "score"}, ...]}`` with the softmax scores, ``label``
  being the class name a viewer shows: the bundle's ``class_names`` as ``inference.json`` resolves them (the names
  the weights were trained with, from ``models/training_record.json``, else the bundle's defaults:
  :func:`class_labels`);
* segmentation: the bundle's own ``Invertd`` already maps the mask back to the input's size; the channel axis is
  dropped for MONAI Label's writer and the mask is written as an 8-bit PNG (values 0/1) unless the request sets
  ``result_extension`` / ``result_dtype`` (e.g. ``.nii.gz``); label names map to mask values
  (``{"polyp": 1}``, from ``post_processed_outputs``);
* CT segmentation (``<bundle>_ct``): the bundle's ``configs/inference_ct.json`` and ``models/ct/model.pt``; the
  answer is a 3-D ``.nii.gz`` mask (uint8) with the input volume's shape and affine (the bundle's ``Invertd`` undoes
  its reorientation and resampling; the writer is given that affine), label names from the training record
  (``{"spleen": 1}``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import CopyItemsd, EnsureTyped, MapTransform, SqueezeDimd
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType
from monailabel.tasks.infer.bundle import BundleConstants, BundleInferTask

from .labels import bundle_class_names

#: request defaults of the segmentation task (a request may override them).
SEGMENTATION_RESULT = {"result_extension": ".png", "result_dtype": "uint8"}
#: request defaults of the CT segmentation task: a 3-D mask that 3D Slicer overlays on the volume.
CT_RESULT = {"result_extension": ".nii.gz", "result_dtype": "uint8"}


def class_labels(path: str) -> dict[str, int]:
    """``{class name: index}`` of a classification bundle, as its ``configs/inference.json`` resolves ``class_names``
    (the training record's names, else the bundle's defaults); ``metadata.json``'s ``channel_def`` when it has none."""
    parser = ConfigParser()
    parser.read_config(str(Path(path) / "configs" / "inference.json"))
    parser["bundle_root"] = str(path)
    try:
        names = parser.get_parsed_content("class_names") if "class_names" in parser.get() else None
    except Exception:  # an unreadable record: the bundle's own error is raised when it is served
        names = None
    if not (isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names)):
        names = bundle_class_names(path)
    return {name: i for i, name in enumerate(names)}


class ClassificationBundleInferTask(BundleInferTask):
    """A 2-D classification bundle: returns class scores, one per entry of ``channel_def``."""

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        # CopyItemsd keeps the file name as ``image_path`` for the bundle's CSV; MONAI Label sets that key itself
        super().__init__(
            path, conf, type=InferType.CLASSIFICATION, add_post_restore=False, pre_filter=[CopyItemsd], **kwargs
        )
        self._path = path
        if self.is_valid():
            self.labels = class_labels(path)

    def __call__(self, request: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """MONAI Label's inference, with the label names of the weights served now (training may have changed them)."""
        self.labels = class_labels(self._path)
        return super().__call__(request, *args, **kwargs)

    def post_transforms(self, data: Any = None) -> list:
        """The bundle's postprocessing, then the scores as a ``MetaTensor`` (MONAI Label's writer reads ``.array``)."""
        return [*super().post_transforms(data), EnsureTyped(keys=self.output_label_key, track_meta=True)]


def mask_labels(path: str) -> dict[str, int]:
    """``{name: mask value}`` from ``metadata.json`` ``post_processed_outputs.pred.channel_def`` (background left out).

    MONAI Label reads the label names from ``outputs.pred.channel_def``, which numbers the network's *channels*
    (``{"0": "polyp"}`` for a one-channel sigmoid output); the mask it returns holds 1 for a polyp, as
    ``post_processed_outputs`` says.
    """
    with open(Path(path) / "configs" / "metadata.json") as f:
        post = json.load(f)["network_data_format"].get("post_processed_outputs", {})
    channel_def = next(iter(post.values()), {}).get("channel_def", {})
    return {v.lower(): int(k) for k, v in channel_def.items() if v.lower() != "background"}


class SegmentationBundleInferTask(BundleInferTask):
    """A 2-D segmentation bundle: returns a mask of the input image's size."""

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        super().__init__(path, conf, type=InferType.SEGMENTATION, add_post_restore=False, **kwargs)
        if self.is_valid():
            self._config.update(SEGMENTATION_RESULT)
            self.labels = mask_labels(path) or self.labels

    def post_transforms(self, data: Any = None) -> list:
        """The bundle's postprocessing (sigmoid, ``Invertd``, threshold), then ``(1, W, H)`` -> ``(W, H)``."""
        return [*super().post_transforms(data), SqueezeDimd(keys=self.output_label_key, dim=0)]


class CTBundleConstants(BundleConstants):
    """MONAI Label's bundle layout, pointed at the CT config and weights: ``configs/inference_ct.json`` and
    ``models/ct/model.pt``."""

    def configs(self) -> list[str]:
        """The CT inference config."""
        return ["inference_ct.json"]

    def model_pytorch(self) -> str:
        """The CT weights, relative to ``models/``."""
        return str(Path("ct") / "model.pt")


def ct_mask_labels(path: str) -> dict[str, int]:
    """``{name: mask value}`` of the CT model: the bundle's ``inference_ct.json`` ``label_names`` and
    ``output_values``, as its training record sets them."""
    parser = ConfigParser()
    parser.read_config(str(Path(path) / "configs" / "inference_ct.json"))
    parser["bundle_root"] = str(path)
    names, values = parser.get_parsed_content("label_names"), parser.get_parsed_content("output_values")
    return {str(n).lower(): int(v) for n, v in zip(names, values, strict=True)}


class _ResultGeometryd(MapTransform):
    """Give MONAI Label's writer the mask's own affine (the input volume's, restored by ``Invertd``): the writer
    otherwise takes the affine of the *preprocessed* image, which is reoriented and resampled."""

    def __init__(self, key: str, ref_key: str = "image") -> None:
        super().__init__(keys=key)
        self.ref_meta = f"{ref_key}_meta_dict"

    def __call__(self, data: Any) -> Any:
        d = dict(data)
        for key in self.key_iterator(d):
            if isinstance(d[key], MetaTensor):
                d[self.ref_meta] = {**dict(d.get(self.ref_meta) or {}), "affine": d[key].affine.clone()}
        return d


class _MoveKeyd(MapTransform):
    """Rename a key (``image_path`` -> ``_image_path`` and back) around the bundle's preprocessing: MONAI's
    ``Spacingd`` calls ``.update()`` on every ``image_*`` entry of a NIfTI input's dictionary, and MONAI Label's
    ``image_path`` is a string."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(keys=source, allow_missing_keys=True)
        self.target = target

    def __call__(self, data: Any) -> Any:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.target] = d.pop(key)
        return d


class CTSegmentationBundleInferTask(BundleInferTask):
    """A CT volume (NIfTI file, or a DICOM series folder inside the studies) -> 3-D label mask, slice by slice.

    Args:
        path: the bundle folder (its ``inference_ct.json`` and ``models/ct/model.pt`` are used).
        conf: the app's ``--conf`` values.
    """

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        super().__init__(
            path, conf, const=CTBundleConstants(), type=InferType.SEGMENTATION, add_post_restore=False, **kwargs
        )
        if self.is_valid():
            self._config.update(CT_RESULT)
            self.labels = ct_mask_labels(path)
            self.dimension = 3
            self.description = f"CT: {self.description} (2.5-D, slice by slice; .nii.gz mask in the input geometry)"

    def pre_transforms(self, data: Any = None) -> list:
        """The bundle's preprocessing, with MONAI Label's ``image_path`` set aside while it runs."""
        return [
            _MoveKeyd("image_path", "_image_path"),
            *super().pre_transforms(data),
            _MoveKeyd("_image_path", "image_path"),
        ]

    def post_transforms(self, data: Any = None) -> list:
        """The bundle's postprocessing (softmax, ``Invertd``, argmax, label values), then ``(1, H, W, D)`` ->
        ``(H, W, D)`` with the restored affine handed to the writer."""
        return [
            *super().post_transforms(data),
            _ResultGeometryd(self.output_label_key),
            SqueezeDimd(keys=self.output_label_key, dim=0),
        ]


class UntrainedInferTask(InferTask):
    """Stands for a bundle that has no ``models/model.pt`` yet: listed by ``/info/`` (``"trained": false``), refuses
    inference with 409 until training writes the weights (the app then swaps in the bundle's real task).

    Args:
        name: the model name (bundle folder name).
        path: the bundle folder.
        task_type: ``"classification"`` or ``"segmentation"``.
    """

    def __init__(self, name: str, path: str, task_type: str) -> None:
        with open(Path(path) / "configs" / "metadata.json") as f:
            meta = json.load(f)
        if task_type == InferType.SEGMENTATION:
            labels = mask_labels(path)
        else:
            labels = class_labels(path)
        super().__init__(type=task_type, labels=labels, dimension=2, description=meta.get("description", name))
        self.name = name
        self.weights = Path(path) / "models" / "model.pt"

    def is_valid(self) -> bool:
        """Listed by ``/info/``."""
        return True

    def info(self) -> dict[str, Any]:
        """MONAI Label's task info with ``"trained": False``."""
        return {**super().info(), "trained": False}

    def __call__(self, request: dict[str, Any]) -> tuple[str | None, dict]:
        """Always refuses (409): there are no weights to infer with."""
        from .security import RequestRefusedError

        raise RequestRefusedError(
            409,
            f"model {self.name!r} is untrained: {self.weights} does not exist yet; save labels (PUT /datastore/label) "
            f"and train it (POST /train/{self.name}), or copy trained weights to that path",
        )
