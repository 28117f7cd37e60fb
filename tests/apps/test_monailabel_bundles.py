# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Bundle discovery of the MONAI Label app (``fusion_label.bundles``): needs no monailabel and no weights download."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apps.monailabel.fusion_label.bundles import (
    REPO_BUNDLES,
    MissingWeightsError,
    bundle_search_dirs,
    bundle_task_type,
    resolve_bundles,
)

ALL = {"cdfinet": "classification", "hifuse": "classification", "medmamba": "classification"}
ALL |= {"mfsf2net": "classification", "mfsf2net_segmentation": "segmentation"}


def _copy(name: str, dest: Path, weights: bool) -> Path:
    bundle = dest / name
    # the tracked files only: a local run's models/ (e.g. weights installed by scripts/study.py) must not change a test
    shutil.copytree(REPO_BUNDLES / name, bundle, ignore=shutil.ignore_patterns("models", "eval", "runs"))
    if weights:
        (bundle / "models").mkdir(exist_ok=True)
        (bundle / "models" / "model.pt").write_bytes(b"")
    return bundle


def test_task_type_comes_from_metadata() -> None:
    assert {name: bundle_task_type(REPO_BUNDLES / name) for name in ALL} == ALL


def test_named_bundle_without_weights_is_refused_unless_trainable(tmp_path: Path) -> None:
    _copy("mfsf2net_segmentation", tmp_path, weights=False)
    _copy("hifuse", tmp_path, weights=False)
    conf = {"models": "mfsf2net_segmentation", "bundle_path": str(tmp_path), "skip_trainers": "true"}
    with pytest.raises(MissingWeightsError, match=r"mfsf2net_segmentation/models/model\.pt does not exist.*Fix: train"):
        resolve_bundles(tmp_path / "app", conf)
    (tmp_path / "hifuse" / "configs" / "train.json").unlink()
    with pytest.raises(MissingWeightsError, match=r"hifuse/models/model\.pt does not exist"):  # no trainer: refused
        resolve_bundles(tmp_path / "app", {"models": "hifuse", "bundle_path": str(tmp_path)})
    # training on: bundles with a train.json (segmentation and classification) are served untrained, to be trained
    _copy("medmamba", tmp_path, weights=False)
    conf = {"models": "mfsf2net_segmentation,medmamba", "bundle_path": str(tmp_path)}
    entry = resolve_bundles(tmp_path / "app", conf)
    assert entry["mfsf2net_segmentation"].trained is False and entry["medmamba"].trained is False


def test_search_order_and_implicit_selection(tmp_path: Path) -> None:
    app, extra = tmp_path / "app", tmp_path / "extra"
    _copy("hifuse", extra, weights=True)
    _copy("cdfinet", app / "model", weights=True)
    repo_app_models = REPO_BUNDLES.parent / "apps" / "monailabel" / "model"
    assert bundle_search_dirs(app, {"bundle_path": str(extra)}) == [extra, app / "model", repo_app_models, REPO_BUNDLES]
    found = resolve_bundles(app, {"bundle_path": str(extra), "models": "hifuse,cdfinet"})
    assert {n: (b.path, b.task) for n, b in found.items()} == {
        "hifuse": ((extra / "hifuse").resolve(), "classification"),
        "cdfinet": ((app / "model" / "cdfinet").resolve(), "classification"),
    }
    # without --conf models: every bundle with weights; the repository's (weightless unless trained) are skipped
    implicit = resolve_bundles(app, {"bundle_path": str(extra)})
    trained = {n for n in ALL if (REPO_BUNDLES / n / "models" / "model.pt").is_file()}
    # and the CT model of the segmentation bundle when a train_ct.json run left weights (classification CT: not served)
    trained |= {
        n + "_ct" for n in ["mfsf2net_segmentation"] if (REPO_BUNDLES / n / "models" / "ct" / "model.pt").is_file()
    }
    assert set(implicit) == {"hifuse", "cdfinet"} | trained


def test_unknown_bundle_and_remote_zoo_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bundle 'nosuch' not found.*Available: \[.*'mfsf2net_segmentation'"):
        resolve_bundles(tmp_path, {"models": "nosuch"})
    with pytest.raises(ValueError, match="zoo_source 'monaihosting'"):
        resolve_bundles(tmp_path, {"models": "cdfinet", "zoo_source": "monaihosting"})


def test_ct_model_of_a_segmentation_bundle(tmp_path: Path) -> None:
    """``<bundle>_ct`` serves ``inference_ct.json`` + ``models/ct/model.pt`` of a segmentation bundle only."""
    for name in ("mfsf2net_segmentation", "cdfinet"):
        shutil.copytree(REPO_BUNDLES / name, tmp_path / name, ignore=shutil.ignore_patterns("models", "eval"))
    conf = {"models": "mfsf2net_segmentation_ct", "bundle_path": str(tmp_path)}
    with pytest.raises(
        MissingWeightsError, match=r"CT model 'mfsf2net_segmentation_ct' has no weights.*train_ct\.json"
    ):
        resolve_bundles(tmp_path / "app", conf)
    (tmp_path / "mfsf2net_segmentation" / "models" / "ct").mkdir(parents=True)
    (tmp_path / "mfsf2net_segmentation" / "models" / "ct" / "model.pt").write_bytes(b"")
    entry = resolve_bundles(tmp_path / "app", conf)["mfsf2net_segmentation_ct"]
    assert entry.ct and entry.task == "segmentation" and entry.path == (tmp_path / "mfsf2net_segmentation").resolve()
    assert entry.weights == entry.path / "models" / "ct" / "model.pt"
    (tmp_path / "cdfinet" / "models" / "ct").mkdir(parents=True)  # a CT classifier: not a MONAI Label model
    (tmp_path / "cdfinet" / "models" / "ct" / "model.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="bundle 'cdfinet_ct' not found"):
        resolve_bundles(tmp_path / "app", {"models": "cdfinet_ct", "bundle_path": str(tmp_path)})
