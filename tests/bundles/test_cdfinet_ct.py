# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``bundles/cdfinet/configs/{train_ct,inference_ct}.json``: CT classification with a 2-D network.

Training (``train.json`` + ``train_ct.json``, tiny CDFINet, 32 x 32, 1 epoch) reads 12 real COVID-CT PNG slices from
class folders as they are (display intensities, not HU); inference (``inference.json`` + ``inference_ct.json``) takes
a folder holding a PNG slice, a NIfTI volume and a DICOM series, windows the HU inputs, classifies every slice and
writes one row per input whose probabilities are the mean of its slices' softmax (checked against a slice-by-slice
recomputation).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from tests.bundles.classification_cases import TINY_NETWORKS, config_paths
from tests.utils import require_data

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.data,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

CLASSES = ["CT_COVID", "CT_NonCOVID"]


def _covid_subset(dest: Path, per_class: int = 6) -> Path:
    covid = require_data("covid_ct")
    for name in CLASSES:
        (dest / name).mkdir(parents=True)
        for png in sorted((covid / name).glob("*.png"))[:per_class]:
            os.symlink(png, dest / name / png.name)
    return dest


def test_train_and_infer_ct_classification(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ct = require_data("ct_volumes")
    train = ConfigWorkflow(
        config_file=config_paths("cdfinet", "train.json", "train_ct.json"),
        run_id="training",
        dataset_dir=str(_covid_subset(tmp_path / "covid")),
        output_dir=str(tmp_path / "eval"),
        ckpt_dir=str(tmp_path / "models"),
        split_fractions=[0.5, 0.25, 0.25],
        image_size=32,
        num_workers=0,
        train_batch_size=2,
        val_batch_size=2,
        max_epochs=1,
        progress_bar=False,
        **TINY_NETWORKS["cdfinet"],
    )
    train.initialize()
    assert train.parser.get_parsed_content("class_names") == CLASSES
    item = train.parser.get_parsed_content("validate#dataset")[0]
    assert tuple(item["image"].shape) == (3, 32, 32)
    train.run()
    train.finalize()
    record = json.loads((tmp_path / "models" / "training_record.json").read_text())
    assert record["class_names"] == CLASSES and record["hu_windows"] == ["lung", "mediastinum", "bone"]
    assert (tmp_path / "models" / "model.pt").is_file()

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    os.symlink(ct / "example_ct_dicom", inputs / "dicom_study")
    os.symlink(ct / "example_ct_sm.nii.gz", inputs / "ct_sm.nii.gz")
    os.symlink(next((tmp_path / "covid" / "CT_NonCOVID").iterdir()), inputs / "slice.png")
    infer = ConfigWorkflow(
        config_file=config_paths("cdfinet", "inference.json", "inference_ct.json"),
        workflow_type="infer",
        dataset_dir=str(inputs),
        output_dir=str(tmp_path / "predictions"),
        ckpt_dir=str(tmp_path / "models"),
        num_workers=0,
    )
    infer.initialize()
    infer.run()
    with open(tmp_path / "predictions" / "predictions.csv") as f:
        rows = {Path(r[0]).name: np.array([float(v) for v in r[1:]]) for r in csv.reader(f)}
    assert sorted(rows) == ["ct_sm.nii.gz", "dicom_study", "slice.png"]
    for probs in rows.values():
        assert probs.shape == (2,) and np.all(probs >= 0) and abs(probs.sum() - 1) < 1e-5

    # the stated rule, recomputed: mean over the 30 slices of the NIfTI volume of each slice's softmax
    parser = infer.parser
    network = parser.get_parsed_content("network").eval()
    data = parser.get_parsed_content("preprocessing")({"image": str(inputs / "ct_sm.nii.gz")})
    volume = data["image"]
    assert tuple(volume.shape) == (3, 32, 32, 30)  # 3 HU windows as channels, every axial slice kept
    with torch.no_grad():
        slices = torch.stack([torch.softmax(network(volume[None, ..., z]), 1)[0] for z in range(30)])
    np.testing.assert_allclose(rows["ct_sm.nii.gz"], slices.mean(0).numpy(), atol=1e-5)
    infer.finalize()


def test_inference_ct_refuses_a_volume_that_is_not_hu(tmp_path: Path) -> None:
    import nibabel

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    nibabel.save(nibabel.Nifti1Image(np.full((8, 8, 3), 200, np.uint8), np.eye(4)), inputs / "windowed.nii.gz")
    infer = ConfigWorkflow(
        config_file=config_paths("cdfinet", "inference.json", "inference_ct.json"),
        workflow_type="infer",
        dataset_dir=str(inputs),
        output_dir=str(tmp_path / "predictions"),
        ckpt_dir=str(tmp_path / "models"),
    )
    with pytest.raises(SystemExit) as info:
        infer.initialize()
        infer.run()
    assert "windowed.nii.gz" in str(info.value.code) and "hu_check" in str(info.value.code)
