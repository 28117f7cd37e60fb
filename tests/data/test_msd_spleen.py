# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The catalogue's public CT segmentation set (MSD Task09 Spleen): the entry MONAI's DecathlonDataset uses, and the
download -> extract -> datalist path on a local ``file://`` stand-in archive of the same layout (no network here)."""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from pathlib import Path

import nibabel
import numpy as np
import pytest
from monai.apps.datasets import DecathlonDataset

from monai_fusion.data import check_ct_datalist
from monai_fusion.data.catalogue import (
    DATASET_CATALOGUE,
    PublicDatasetResource,
    PublicDatasetUnavailableError,
    fetch_public_dataset,
)


def test_entry_matches_monai_decathlon_resource() -> None:
    info = DATASET_CATALOGUE["msd_spleen"]
    (resource,) = info.resources
    assert resource.url == DecathlonDataset.resource["Task09_Spleen"]
    assert resource.hash_val == DecathlonDataset.md5["Task09_Spleen"] and resource.hash_type == "md5"
    assert info.licence == "CC BY-SA 4.0"


def _standin_archive(tmp_path: Path, cases: int = 4) -> Path:
    """Task09_Spleen.tar with ``cases`` tiny HU volumes + label maps, and the macOS ``._`` files the real one has."""
    src = tmp_path / "src" / "Task09_Spleen"
    rng = np.random.default_rng(0)
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (src / sub).mkdir(parents=True)
    for k in range(cases):
        ct = rng.integers(-1024, 400, size=(8, 8, 4)).astype(np.int16)
        seg = np.zeros((8, 8, 4), np.uint8)
        seg[2:5, 2:5, 1:3] = 1
        affine = np.diag([0.8, 0.8, 5.0, 1.0])
        nibabel.save(nibabel.Nifti1Image(ct, affine), src / "imagesTr" / f"spleen_{k}.nii.gz")
        nibabel.save(nibabel.Nifti1Image(seg, affine), src / "labelsTr" / f"spleen_{k}.nii.gz")
        (src / "imagesTr" / f"._spleen_{k}.nii.gz").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    nibabel.save(nibabel.Nifti1Image(ct, affine), src / "imagesTs" / "spleen_99.nii.gz")
    archive = tmp_path / "Task09_Spleen.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(src, arcname="Task09_Spleen")
    return archive


def test_fetch_local_archive_builds_a_checked_ct_datalist(tmp_path: Path) -> None:
    archive = _standin_archive(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    resource = PublicDatasetResource(archive.as_uri(), archive.name, hash_val=md5, hash_type="md5")
    entry = dataclasses.replace(DATASET_CATALOGUE["msd_spleen"], resources=(resource,))
    folder = fetch_public_dataset(entry, tmp_path / "root", progress=False)
    datalist = entry.build(folder, seed=0, fractions=(0.5, 0.25, 0.25))
    assert [len(datalist[s]) for s in ("training", "validation", "test")] == [2, 1, 1]
    items = datalist["training"] + datalist["validation"] + datalist["test"]
    assert sorted(Path(i["image"]).name for i in items) == [f"spleen_{k}.nii.gz" for k in range(4)]
    assert all(Path(i["label"]).parent.name == "labelsTr" for i in items)
    assert datalist["licence"] == "CC BY-SA 4.0"
    check_ct_datalist(datalist, sections=("training", "validation", "test"))


def test_fetch_with_a_wrong_checksum_says_where_to_get_it(tmp_path: Path) -> None:
    archive = _standin_archive(tmp_path, cases=1)
    resource = PublicDatasetResource(archive.as_uri(), archive.name, hash_val="0" * 32, hash_type="md5")
    entry = dataclasses.replace(DATASET_CATALOGUE["msd_spleen"], resources=(resource,))
    with pytest.raises(PublicDatasetUnavailableError, match="medicaldecathlon.com"):
        fetch_public_dataset(entry, tmp_path / "root", progress=False)
