# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MONAI Label on CT through the real server: ``mfsf2net_segmentation_ct`` answers a CT volume with a 3-D
``.nii.gz`` mask in the volume's geometry (what 3D Slicer overlays).

The server is started the documented way (``serve.py``, loopback) with a copy of the segmentation bundle whose
``models/ct/`` holds a tiny randomly initialised MFSF2NetSeg and the training record that ``train_ct.json`` would
write (6 mm in-plane, 64 x 64 patches). The input is the shared 20-slice DICOM series converted to NIfTI by ITK
(``example_ct_dicom.nii.gz``, 512 x 512 x 20, LPS headers); the returned mask must have its shape and affine, read
with nibabel and with ITK, and hold only the label values the server lists.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import itk
import nibabel
import numpy as np
import pytest
import torch

from monai_fusion.data import ct_geometry
from monai_fusion.networks.nets import MFSF2NetSeg
from tests.apps.label_server import log_tail, running_server
from tests.apps.test_monailabel_train import import_monailabel
from tests.utils import REPO_ROOT, require_data

pytestmark = [pytest.mark.data, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

MODEL = "mfsf2net_segmentation_ct"
TINY = {"spatial_dims": 2, "in_channels": 3, "out_channels": 2, "fuse_channels": 16, "decoder_channels": 16}


def _ct_bundle(dest: Path) -> Path:
    """A copy of the segmentation bundle with tiny CT weights and their training record in ``models/ct/``."""
    bundle = dest / "mfsf2net_segmentation"
    shutil.copytree(
        REPO_ROOT / "bundles" / "mfsf2net_segmentation", bundle, ignore=shutil.ignore_patterns("models", "eval", "runs")
    )
    models = bundle / "models" / "ct"
    models.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(MFSF2NetSeg(pretrained=False, **TINY).state_dict(), models / "model.pt")
    record = {
        "network_def": {"_target_": "monai_fusion.networks.nets.MFSF2NetSeg", "pretrained": False, **TINY},
        "labels": [1],
        "label_names": ["spleen"],
        "hu_windows": [[400, 40]],
        "num_slices": 3,
        "pixdim": [6.0, 6.0],
        "spatial_size": [64, 64],
    }
    (models / "training_record.json").write_text(json.dumps(record, indent=4))
    return bundle


def _itk_series(folder: Path) -> itk.Image:
    names = itk.GDCMSeriesFileNames.New()
    names.SetDirectory(str(folder))
    return itk.imread(names.GetInputFileNames())


def _itk_geometry(image: itk.Image) -> tuple:
    return (
        tuple(int(s) for s in image.GetLargestPossibleRegion().GetSize()),
        np.array(image.GetSpacing(), dtype=float),
        np.array(image.GetOrigin(), dtype=float),
        itk.array_from_matrix(image.GetDirection()),
    )


@pytest.fixture(scope="module")
def ct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    import_monailabel()
    series = require_data("ct_volumes", "example_ct_dicom")
    root = tmp_path_factory.mktemp("monailabel_ct")
    _ct_bundle(root / "bundles")
    (root / "studies").mkdir()
    volume = root / "uploads" / "example_ct_dicom.nii.gz"
    volume.parent.mkdir()
    itk.imwrite(_itk_series(series), str(volume))  # "its NIfTI": what a DICOM-to-NIfTI conversion gives
    with running_server(root, root / "studies", [MODEL], root / "bundles") as server:
        yield {**server, "series": series, "volume": volume, "root": root}
    shutil.rmtree(root, ignore_errors=True)  # checkpoints: the suite must not fill the disk


def test_info_lists_the_ct_model(ct_server: dict) -> None:
    import requests

    info = requests.get(f"{ct_server['url']}/info/", timeout=10).json()
    model = info["models"][MODEL]
    assert model["type"] == "segmentation" and model["dimension"] == 3
    assert model["labels"] == {"spleen": 1}
    assert MODEL not in info.get("trainers", {})  # CT models are trained with train_ct.json, not through the server


def test_ct_volume_gets_a_mask_in_its_own_geometry(ct_server: dict, tmp_path: Path) -> None:
    import requests

    volume = ct_server["volume"]
    with open(volume, "rb") as f:
        res = requests.post(
            f"{ct_server['url']}/infer/{MODEL}",
            params={"output": "image"},
            files={"file": (volume.name, f)},
            timeout=300,
        )
    assert res.status_code == 200, f"{res.status_code} {res.text[:500]}\n{log_tail(ct_server['log'])}"
    mask_file = tmp_path / "mask.nii.gz"
    mask_file.write_bytes(res.content)
    mask = nibabel.load(mask_file)
    shape, affine = ct_geometry(ct_server["series"])  # the DICOM headers, in RAS
    assert mask.shape == shape == (512, 512, 20)
    np.testing.assert_allclose(mask.affine, affine, atol=1e-3)
    np.testing.assert_allclose(mask.affine, nibabel.load(volume).affine, atol=1e-3)
    assert set(np.unique(np.asanyarray(mask.dataobj)).tolist()) <= {0, 1}
    size, spacing, origin, direction = _itk_geometry(itk.imread(str(mask_file)))
    d_size, d_spacing, d_origin, d_direction = _itk_geometry(_itk_series(ct_server["series"]))
    assert size == d_size
    np.testing.assert_allclose(spacing, d_spacing, atol=1e-4)
    np.testing.assert_allclose(origin, d_origin, atol=1e-3)
    np.testing.assert_allclose(direction, d_direction, atol=1e-6)


def test_ct_model_refuses_paths_outside_its_folders(ct_server: dict) -> None:
    import requests

    for image in ("/etc/passwd", "../../../etc/passwd", str(ct_server["series"])):
        res = requests.post(f"{ct_server['url']}/infer/{MODEL}", params={"image": image}, timeout=30)
        assert res.status_code in (400, 404), (image, res.status_code, res.text[:300])
