# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Shared pieces of the zoo-style unit tests of the monai-fusion bundles (``test_<bundle>[_dist].py``).

They follow the MONAI Model Zoo's ``ci/unit_tests`` layout (unittest classes, ``from utils import check_workflow``),
so that a zoo pull request can carry them into ``ci/unit_tests/`` together with this module. The bundle folder is
``models/<name>`` of the zoo checkout (this file in ``ci/unit_tests/``) or ``bundles/<name>`` of the monai-fusion
repository (this file in ``zoo_tests/``), or ``$MONAI_FUSION_BUNDLES_DIR/<name>``. Each test copies the bundle into a
temporary folder and runs it there (``bundle_root`` points at the copy), so checkpoints and reports never land in the
checkout.

Data are synthetic: random RGB images (and random masks for segmentation) written to a temporary folder, described by
a datalist JSON (``training``, ``validation``, ``test`` sections) given with ``--datalist``. Only these overrides are
used, all top-level ids of the bundle configs: ``bundle_root``, ``datalist``, ``train#trainer#max_epochs``,
``num_workers``, ``progress_bar``, the image size (``image_size``; ``spatial_size`` for the segmentation bundle) and
the batch sizes (``train_batch_size``/``val_batch_size``; ``batch_size``/``val_batch_size`` for segmentation).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from monai.bundle import ConfigParser
from PIL import Image

IMAGE_SIZE = 32
SEG_IMAGE_SIZE = 64
NUM_TRAIN, NUM_VAL, NUM_TEST = 8, 4, 4
MAX_EPOCHS = 2
SEGMENTATION_BUNDLES = ("mfsf2net_segmentation",)


def find_bundle(name: str) -> Path:
    """The bundle folder ``name``: ``$MONAI_FUSION_BUNDLES_DIR/<name>``, else the zoo's ``models/<name>``, else the
    monai-fusion repository's ``bundles/<name>``."""
    here = Path(__file__).resolve().parent
    env = os.environ.get("MONAI_FUSION_BUNDLES_DIR")
    candidates = [Path(env) / name] if env else []
    candidates += [here.parents[1] / "models" / name, here.parent / "bundles" / name, Path("models") / name]
    for candidate in candidates:
        if (candidate / "configs" / "metadata.json").is_file():
            return candidate.resolve()
    raise FileNotFoundError(
        f"bundle {name!r} not found at {[str(c) for c in candidates]}; set MONAI_FUSION_BUNDLES_DIR."
    )


def copy_bundle(name: str, folder: Path) -> Path:
    """Copy the bundle's configs, docs and LICENSE into ``folder/<name>`` (no eval/, models/ or runs/ left by earlier
    runs) and return the copy."""
    source, target = find_bundle(name), folder / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("eval", "models", "runs", "__pycache__"))
    return target


def _random_image(rng: np.random.Generator, size: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8))


def _random_mask(rng: np.random.Generator, size: int) -> Image.Image:
    mask = np.zeros((size, size), dtype=np.uint8)
    y, x = rng.integers(size // 8, size // 2, size=2)
    mask[y : y + size // 3, x : x + size // 3] = 255  # one square "polyp" per image
    return Image.fromarray(mask)


def write_synthetic_data(bundle: Path, folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write synthetic images (and masks) for ``bundle`` and their datalist JSON under ``folder``.

    Classification: one image per class in training as far as ``NUM_TRAIN`` goes (labels cycle over the bundle's
    ``class_names``), ``NUM_VAL`` validation and ``NUM_TEST`` test images. Segmentation: image/mask pairs.

    Returns:
        ``{"datalist": path, "test_dir": folder of the test images, "test_images": [paths], "num_classes": int}``.
    """
    rng = np.random.default_rng(seed)
    segmentation = bundle.name in SEGMENTATION_BUNDLES
    size = SEG_IMAGE_SIZE if segmentation else IMAGE_SIZE
    datalist: dict[str, Any] = {"name": f"synthetic {bundle.name}", "path_keys": ["image"]}
    if segmentation:
        datalist.update(task="segmentation", path_keys=["image", "label"], class_names=["background"], num_classes=2)
        num_classes = 1
    else:
        parser = ConfigParser()
        parser.read_config(str(bundle / "configs" / "train.json"))
        classes = list(parser["class_names"])
        num_classes = len(classes)
        datalist.update(task="classification", class_names=classes, num_classes=num_classes)
        datalist["channels"] = {"image": [3]}
    index = 0
    for section, count in (("training", NUM_TRAIN), ("validation", NUM_VAL), ("test", NUM_TEST)):
        items = []
        for sub in ("images", "masks") if segmentation else ("images",):
            (folder / sub / section).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            path = folder / "images" / section / f"{section}_{i:02d}.png"
            _random_image(rng, size).save(path)
            item: dict[str, Any] = {"image": str(path), "case_id": path.stem, "group": path.stem}
            if segmentation:
                mask = folder / "masks" / section / path.name
                _random_mask(rng, size).save(mask)
                item["label"] = str(mask)
            else:
                item["label"] = index % num_classes
            index += 1
            items.append(item)
        datalist[section] = items
    path = folder / "datalist.json"
    path.write_text(json.dumps(datalist, indent=2))
    test_images = [item["image"] for item in datalist["test"]]
    test_dir = folder / "images" / "test"
    return {"datalist": path, "test_dir": test_dir, "test_images": test_images, "num_classes": num_classes}


def train_overrides(bundle: Path, datalist: Path, max_epochs: int = MAX_EPOCHS) -> dict[str, Any]:
    """Tiny-run overrides of ``train.json`` (also used with ``evaluate.json`` and ``multi_gpu_train.json``)."""
    override: dict[str, Any] = {
        "bundle_root": str(bundle),
        "datalist": str(datalist),
        "train#trainer#max_epochs": max_epochs,
        "num_workers": 0,
        "val_batch_size": 2,
        "progress_bar": False,
    }
    if bundle.name in SEGMENTATION_BUNDLES:
        override.update(spatial_size=[SEG_IMAGE_SIZE, SEG_IMAGE_SIZE], batch_size=4)
        override.pop("progress_bar")
    else:
        override.update(image_size=IMAGE_SIZE, train_batch_size=4)
    return override


def infer_overrides(bundle: Path, dataset_dir: Path) -> dict[str, Any]:
    """Overrides of ``inference.json``: the bundle copy, a folder of images, no worker processes."""
    return {"bundle_root": str(bundle), "dataset_dir": str(dataset_dir), "num_workers": 0}


class TemporaryBundle:
    """A temporary folder holding a copy of the bundle and synthetic data (``setUp``/``tearDown`` helper)."""

    def __init__(self, name: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"zoo_{name}_"))
        self.bundle = copy_bundle(name, self.folder)
        self.data = write_synthetic_data(self.bundle, self.folder / "data")

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _configs(bundle: Path, *names: str) -> list[str]:
    return [str(bundle / "configs" / n) for n in names]


def _workflow(bundle: Path, workflow_type: str, config_file: list[str], **override: Any) -> Any:
    from monai.bundle import ConfigWorkflow

    return ConfigWorkflow(
        workflow_type=workflow_type,
        config_file=config_file,
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=str(bundle / "configs" / "logging.conf"),
        **override,
    )


class BundleWorkflowTests:
    """Mixin of ``test_<bundle>.py``: train -> evaluate -> infer on synthetic data through ``ConfigWorkflow``.

    A subclass sets ``name`` (the bundle folder name) and derives from ``unittest.TestCase`` too.
    """

    name: str = ""

    def setUp(self) -> None:  # noqa: N802 (unittest API)
        self.case = TemporaryBundle(self.name)

    def tearDown(self) -> None:  # noqa: N802 (unittest API)
        self.case.cleanup()

    def test_train_eval_infer(self) -> None:
        import torch
        from utils import check_workflow

        bundle, data = self.case.bundle, self.case.data
        override = train_overrides(bundle, data["datalist"])

        trainer = _workflow(bundle, "train", _configs(bundle, "train.json"), **override)
        check_workflow(trainer, check_properties=True)
        state = trainer.parser.get_parsed_content("train#trainer").state
        self.assertEqual(state.epoch, MAX_EPOCHS)
        self.assertEqual(state.iteration, MAX_EPOCHS * state.epoch_length)
        self.assertTrue(np.isfinite(float(state.output[0]["loss"])))
        weights = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
        network = trainer.parser.get_parsed_content("network_def", instantiate=True)
        network.load_state_dict(weights.get("model", weights) if isinstance(weights, dict) else weights)

        # evaluate.json is merged over train.json, as in the zoo's tests
        validator = _workflow(bundle, "train", _configs(bundle, "train.json", "evaluate.json"), **override)
        check_workflow(validator, check_properties=True)
        metrics = validator.parser.get_parsed_content("validate#evaluator").state.metrics
        self.assertTrue(metrics, "the evaluation reported no metric")
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                self.assertTrue(np.isfinite(value), f"{key} = {value}")

        infer_override = infer_overrides(bundle, data["test_dir"])
        inferrer = _workflow(bundle, "infer", _configs(bundle, "inference.json"), **infer_override)
        check_workflow(inferrer, check_properties=True)
        output_dir = Path(inferrer.parser.get_parsed_content("output_dir"))
        if bundle.name in SEGMENTATION_BUNDLES:
            masks = sorted(output_dir.rglob("*mask*.png"))
            self.assertEqual(len(masks), NUM_TEST, [str(p) for p in output_dir.rglob("*")])
            for mask in masks:
                self.assertLessEqual(set(np.unique(np.asarray(Image.open(mask))).tolist()), {0, 255})
            return
        rows = [line.split(",") for line in (output_dir / "predictions.csv").read_text().splitlines() if line]
        self.assertEqual(sorted(r[0] for r in rows), sorted(data["test_images"]))
        probs = np.asarray([[float(v) for v in r[1:]] for r in rows])
        self.assertEqual(probs.shape, (NUM_TEST, data["num_classes"]))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


class BundleMultiProcessTests:
    """Mixin of ``test_<bundle>_dist.py``: ``train.json`` + ``multi_gpu_train.json`` under ``torchrun``.

    One process per GPU when there are at least two GPUs, else two CPU processes with the gloo backend. A subclass sets
    ``name`` and derives from ``unittest.TestCase`` too.
    """

    name: str = ""

    def setUp(self) -> None:  # noqa: N802 (unittest API)
        self.case = TemporaryBundle(self.name)
        self._cuda_visible = os.environ.get("CUDA_VISIBLE_DEVICES")

    def tearDown(self) -> None:  # noqa: N802 (unittest API)
        if self._cuda_visible is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = self._cuda_visible
        self.case.cleanup()

    def test_train_mgpu_config(self) -> None:
        import torch
        from utils import export_config_and_run_mgpu_cmd

        bundle, data = self.case.bundle, self.case.data
        n_gpu = torch.cuda.device_count()
        if n_gpu < 2:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # two CPU processes (gloo) rather than two on one GPU
        override = train_overrides(bundle, data["datalist"])
        export_config_and_run_mgpu_cmd(
            config_file=_configs(bundle, "train.json", "multi_gpu_train.json"),
            meta_file=str(bundle / "configs" / "metadata.json"),
            logging_file=str(bundle / "configs" / "logging.conf"),
            override_dict=override,
            output_path=str(self.case.folder / "train_override.json"),
            ngpu=max(n_gpu, 2),
        )
        # rank 0 saved the trained network (a plain state dict or a {"model": ...} checkpoint, no DDP "module." keys)
        weights = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
        keys = list(weights.get("model", weights))
        self.assertTrue(keys)
        self.assertFalse([k for k in keys if k.startswith("module.")])
