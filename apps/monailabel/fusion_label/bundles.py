# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Which bundle folders the app serves, and whether each one can be served (weights present, task known).

Bundles are found by folder name (``--conf models a,b``) in, first to last:

1. each folder of ``--conf bundle_path DIR1:DIR2`` (``os.pathsep``-separated);
2. ``<app>/model/`` (MONAI Label's convention: a copied or symlinked bundle, e.g. one with trained weights), and
   ``apps/monailabel/model/`` when the app runs from another folder (``serve.py``'s label home);
3. the repository's ``bundles/`` (the bundles as committed).

The task type comes from the bundle's ``metadata.json``: ``outputs.pred.format == "classes"`` is classification,
``"segmentation"`` is segmentation; the folder name is not used (MONAI Label's default guesses from it).

A bundle named in ``--conf models`` without ``models/model.pt`` is served *untrained* (``trained=False``) when
training is on (no ``--conf skip_trainers true``) and it has ``configs/train.json``: the user labels images (masks
for segmentation, class labels for classification) and trains it through the server.

CT models: a segmentation bundle with ``configs/inference_ct.json`` and weights in ``models/ct/model.pt`` (what its
``train_ct.json`` writes) is also served as ``<bundle>_ct`` (e.g. ``mfsf2net_segmentation_ct``): a 3-D segmentation
model whose input is a CT volume and whose answer is a ``.nii.gz`` mask in the volume's geometry. It is served only
with weights (no untrained CT model, no CT training through the server). The CT configs of the classification
bundles (one prediction per volume) are not served.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: ``bundles/`` of the checkout that holds this app (apps/monailabel/fusion_label/bundles.py -> repo root).
REPO_BUNDLES = Path(__file__).resolve().parents[3] / "bundles"
#: ``apps/monailabel`` of the checkout.
REPO_APP = Path(__file__).resolve().parents[1]
WEIGHTS = Path("models") / "model.pt"
CLASSIFICATION, SEGMENTATION = "classification", "segmentation"
#: model-name suffix of the CT variant of a bundle, its inference config and its weights (below the bundle folder)
CT_SUFFIX, CT_CONFIG, CT_WEIGHTS = "_ct", "inference_ct.json", Path("models") / "ct" / "model.pt"


class MissingWeightsError(FileNotFoundError):
    """A bundle asked for by name has no ``models/model.pt``."""


@dataclass(frozen=True)
class BundleEntry:
    """One servable bundle: its folder name, path and task type (``"classification"`` or ``"segmentation"``)."""

    name: str
    path: Path
    task: str
    trained: bool = True
    ct: bool = False

    @property
    def weights(self) -> Path:
        """``<bundle>/models/model.pt`` (``<bundle>/models/ct/model.pt`` for a CT model)."""
        return self.path / (CT_WEIGHTS if self.ct else WEIGHTS)


def bundle_search_dirs(app_dir: str | os.PathLike, conf: Mapping[str, str]) -> list[Path]:
    """The folders searched for bundles, in order (see the module docstring)."""
    extra = [Path(p).expanduser() for p in conf.get("bundle_path", "").split(os.pathsep) if p.strip()]
    app_models = [Path(app_dir) / "model"]
    if Path(app_dir).resolve() != REPO_APP:  # serve.py runs from a folder outside the checkout
        app_models.append(REPO_APP / "model")
    return [*extra, *app_models, REPO_BUNDLES]


def _is_bundle(folder: Path) -> bool:
    return (folder / "configs" / "metadata.json").is_file() and (folder / "configs" / "inference.json").is_file()


def _has_ct(folder: Path) -> bool:
    """A segmentation bundle with a CT inference config (the CT classification configs are not served)."""
    return (folder / "configs" / CT_CONFIG).is_file() and bundle_task_type(folder) == SEGMENTATION


def bundle_task_type(path: str | os.PathLike) -> str:
    """``"classification"`` or ``"segmentation"``, from ``configs/metadata.json`` ``outputs.pred.format``.

    Raises:
        ValueError: the format is neither ``classes`` nor ``segmentation``.
    """
    meta_file = Path(path) / "configs" / "metadata.json"
    with open(meta_file) as f:
        pred = next(iter(json.load(f)["network_data_format"]["outputs"].values()))
    fmt = pred.get("format")
    if fmt == "classes":
        return CLASSIFICATION
    if fmt == "segmentation":
        return SEGMENTATION
    raise ValueError(
        f"{meta_file}: network_data_format.outputs.pred.format is {fmt!r}; the monai-fusion MONAI Label app serves "
        "'classes' (classification) and 'segmentation' bundles only."
    )


def _available(dirs: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in dirs:
        if d.is_dir():
            for child in sorted(d.iterdir()):
                if child.name not in found and _is_bundle(child):
                    found[child.name] = child.resolve()
    return found


def _missing_weights_message(name: str, path: Path) -> str:
    return (
        f"bundle {name!r} has no weights: {path / WEIGHTS} does not exist. MONAI Label needs trained weights to "
        f"serve it. Fix: train it (python -m monai.bundle run --config_file {path}/configs/train.json "
        f"--meta_file {path}/configs/metadata.json writes models/model.pt), copy a trained model.pt to that path, "
        f"or fetch the published weights with python -m monai.bundle download_large_files --bundle_path {path}; "
        "or leave it out of --conf models."
    )


def resolve_bundles(app_dir: str | os.PathLike, conf: Mapping[str, str]) -> dict[str, BundleEntry]:
    """The bundles to serve, by name.

    ``--conf models a,b`` names bundle folders; each must exist in :func:`bundle_search_dirs` and hold
    ``models/model.pt``, except a bundle with ``configs/train.json`` while training is on (``skip_trainers`` not
    ``true``), which is returned with ``trained=False`` (it can be trained through the server). Without ``models`` (or
    with ``models all``) every bundle found that has weights is served and the others are skipped with a warning.

    Args:
        app_dir: the app folder (``apps/monailabel``).
        conf: the ``--conf`` key/value pairs of ``monailabel start_server``.

    Raises:
        ValueError: ``zoo_source`` is not ``local``, a named bundle does not exist, or no bundle can be served.
        MissingWeightsError: a named bundle has no ``models/model.pt`` and cannot be trained here (the message names
            the file and the fix).
    """
    source = conf.get("zoo_source", "local")
    if source != "local":
        raise ValueError(
            f"--conf zoo_source {source!r}: the monai-fusion app serves local bundle folders only and never "
            "downloads from the model zoo; use --conf zoo_source local (the default)."
        )
    dirs = bundle_search_dirs(app_dir, conf)
    available = _available(dirs)
    requested = [n.strip() for n in conf.get("models", "all").split(",") if n.strip()]
    trainable = conf.get("skip_trainers", "false").strip().lower() not in ("true", "1", "yes")
    explicit = requested != ["all"]
    names = requested if explicit else list(available)
    entries: dict[str, BundleEntry] = {}
    if not explicit:  # CT variants with weights
        names += [n + CT_SUFFIX for n in available if (available[n] / CT_WEIGHTS).is_file() and _has_ct(available[n])]
    for name in names:
        base = name[: -len(CT_SUFFIX)] if name.endswith(CT_SUFFIX) else ""
        if name not in available and base in available and _has_ct(available[base]):
            path = available[base]
            if not (path / CT_WEIGHTS).is_file():
                raise MissingWeightsError(
                    f"CT model {name!r} has no weights: {path / CT_WEIGHTS} does not exist. Fix: train it with "
                    f"python -m monai.bundle run --config_file {path}/configs/train_ct.json --meta_file "
                    f"{path}/configs/metadata.json (writes models/ct/model.pt), or copy trained weights there."
                )
            entries[name] = BundleEntry(name, path, SEGMENTATION, ct=True)
            continue
        if name not in available:
            raise ValueError(
                f"--conf models: bundle {name!r} not found in {[str(d) for d in dirs]} (a bundle folder holds "
                f"configs/metadata.json and configs/inference.json). Available: {sorted(available)}."
            )
        path = available[name]
        task = bundle_task_type(path)
        if not (path / WEIGHTS).is_file():
            if explicit and trainable and (path / "configs" / "train.json").is_file():
                logger.warning(f"bundle {name!r} has no weights ({path / WEIGHTS}): served untrained; train it first")
                entries[name] = BundleEntry(name, path, task, trained=False)
                continue
            if explicit:
                raise MissingWeightsError(_missing_weights_message(name, path))
            logger.warning(_missing_weights_message(name, path))
            continue
        entries[name] = BundleEntry(name, path, task)
    if not entries:
        raise ValueError(
            f"no bundle with weights (models/model.pt) found in {[str(d) for d in dirs]}; train one or name it with "
            "--conf models <name> to see what is missing."
        )
    return entries
