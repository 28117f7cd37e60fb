# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The CT configs of ``bundles/mfsf2net_segmentation`` end to end on the real volumes of ../shared/data/ct_volumes.

``train_ct.json`` trains MFSF2NetSeg for one epoch (64 x 64 patches, 6 mm in-plane) on ``example_ct_sm.nii.gz`` with
the DICOM series as validation, and writes ``model.pt`` + ``training_record.json``; ``inference_ct.json`` turns the
20-slice JPEG 2000 DICOM series into a ``.nii.gz`` mask whose shape and affine are the series' own (read back with
nibabel and with ITK). A parameter-free "network" that thresholds the centre slice makes the mask predictable, so
the whole chain (reader, RAS reorientation, resampling, 2.5-D channels, SliceInferer, Invertd, SaveImaged) is checked
voxel by voxel. Bad input stops the run with the file and the fix.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import itk
import nibabel
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.utils import set_determinism

from monai_fusion.data import ct_geometry
from monai_fusion.networks.nets import MFSF2NetSeg
from monai_fusion.transforms import LoadMedicalImage
from tests.utils import REPO_ROOT, require_data

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.data,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

BUNDLE = REPO_ROOT / "bundles" / "mfsf2net_segmentation"
CONFIGS = BUNDLE / "configs"
HU_THRESHOLD = 40.5  # the "network" below marks voxels above it


class CentreSliceThreshold(torch.nn.Module):
    """A parameter-free 2-D 'network': class 1 where the centre channel (slice z of a 3-slice stack windowed with
    width 400, level 40) is above ``HU_THRESHOLD``; logits (B, 2, H, W)."""

    def __init__(self, **_: object) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4 and x.shape[1] == 3, "SliceInferer passes 2-D slices with their neighbours as channels"
        level = (HU_THRESHOLD - (40 - 200)) / 400  # HU -> [0, 1] of the window
        fg = (x[:, 1:2] - level) * 1000.0
        return torch.cat([torch.zeros_like(fg), fg], dim=1)


def _workflow(config: str, workflow_type: str, run_id: str, **override: object) -> ConfigWorkflow:
    return ConfigWorkflow(
        config_file=str(CONFIGS / config),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type=workflow_type,
        run_id=run_id,
        **override,
    )


def _run(workflow: ConfigWorkflow) -> None:
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()


def _itk_geometry(path: Path) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...], list]:
    """(size, spacing, origin, direction) as ITK reads a NIfTI file or a DICOM series (LPS)."""
    if path.is_dir():
        names = itk.GDCMSeriesFileNames.New()
        names.SetDirectory(str(path))
        image = itk.imread(names.GetInputFileNames())
    else:
        image = itk.imread(str(path))
    return (
        tuple(int(s) for s in image.GetLargestPossibleRegion().GetSize()),
        tuple(float(s) for s in image.GetSpacing()),
        tuple(float(s) for s in image.GetOrigin()),
        itk.array_from_matrix(image.GetDirection()).tolist(),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One epoch of train_ct.json on the shared CT volumes; the datalist mixes NIfTI and a DICOM series."""
    ct = require_data("ct_volumes")
    root = tmp_path_factory.mktemp("mfsf2net_seg_ct")
    datalist = root / "ct_datalist.json"
    datalist.write_text(
        json.dumps(
            {
                "training": [{"image": str(ct / "example_ct_sm.nii.gz"), "label": str(ct / "example_seg.nii.gz")}],
                "validation": [{"image": str(ct / "example_ct_dicom"), "label": str(ct / "example_seg_dicom.nii.gz")}],
            }
        )
    )
    train = _workflow(
        "train_ct.json",
        "train",
        "training",
        bundle_root=str(BUNDLE),
        datalist=str(datalist),
        output_dir=str(root / "eval"),
        ckpt_dir=str(root / "models" / "ct"),
        pixdim=[6.0, 6.0],
        spatial_size=[64, 64],
        samples_per_volume=4,
        batch_size=4,
        max_epochs=1,
        warmup_epochs=1,
        num_workers=0,
    )
    _run(train)
    yield {"root": root, "ct": ct, "datalist": datalist}
    set_determinism(seed=None)
    shutil.rmtree(root, ignore_errors=True)  # checkpoints: the suite must not fill the disk


def test_train_ct_writes_model_and_record(trained: dict) -> None:
    models = trained["root"] / "models" / "ct"
    net = MFSF2NetSeg(in_channels=3, out_channels=2)  # 1 HU window x 3 slices; background + spleen
    net.load_state_dict(torch.load(models / "model.pt", weights_only=True))
    record = json.loads((models / "training_record.json").read_text())
    assert record["labels"] == [1] and record["label_names"] == ["spleen"] and record["num_slices"] == 3
    assert record["hu_windows"] == [[400, 40]] and record["pixdim"] == [6.0, 6.0]
    assert record["network_def"]["in_channels"] == 3 and record["network_def"]["out_channels"] == 2
    state = torch.load(next(models.glob("checkpoint_epoch=*.pt")), weights_only=True)
    # 1 volume x 4 sampled slices, batch 4 -> one iteration
    assert dict(state["trainer"]) == {"epoch_length": 1, "iteration": 1, "max_epochs": 1}
    assert sorted(state["training_curves"]["metric_history"]) == ["val_mean_dice"]


def test_default_outputs_never_touch_the_polyp_model() -> None:
    for config in ("train_ct.json", "inference_ct.json"):
        parser = ConfigParser()
        parser.read_config(str(CONFIGS / config))
        parser["bundle_root"] = str(BUNDLE)
        assert Path(parser.get_parsed_content("ckpt_dir")) == BUNDLE / "models" / "ct"
        assert Path(parser.get_parsed_content("output_dir")).is_relative_to(BUNDLE / "eval" / "ct")


def test_inference_ct_mask_has_the_dicom_series_geometry(trained: dict) -> None:
    series = trained["ct"] / "example_ct_dicom"
    output = trained["root"] / "masks"
    infer = _workflow(
        "inference_ct.json",
        "infer",
        "run",
        bundle_root=str(BUNDLE),
        dataset_dir=str(series),
        output_dir=str(output),
        ckpt_dir=str(trained["root"] / "models" / "ct"),
    )
    _run(infer)
    mask_file = output / "example_ct_dicom_mask.nii.gz"
    assert sorted(p.name for p in output.iterdir()) == [mask_file.name]
    mask = nibabel.load(mask_file)
    shape, affine = ct_geometry(series)  # from the DICOM headers, in RAS
    assert mask.shape == shape == (512, 512, 20)
    np.testing.assert_allclose(mask.affine, affine, atol=1e-4)
    np.testing.assert_allclose(mask.affine, LoadMedicalImage(ensure_channel_first=True)(series).affine, atol=1e-4)
    assert mask.get_data_dtype() == np.uint8 and set(np.unique(np.asanyarray(mask.dataobj))) <= {0, 1}
    size, spacing, origin, direction = _itk_geometry(mask_file)
    d_size, d_spacing, d_origin, d_direction = _itk_geometry(series)
    assert size == d_size
    np.testing.assert_allclose(spacing, d_spacing, atol=1e-5)
    np.testing.assert_allclose(origin, d_origin, atol=1e-4)
    np.testing.assert_allclose(direction, d_direction, atol=1e-6)


def _threshold_inference(ct: Path, inputs: Path, output: Path, tmp_path: Path, pixdim: list[float]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    torch.save({}, models / "model.pt")  # the threshold 'network' has no weights
    infer = _workflow(
        "inference_ct.json",
        "infer",
        "run",
        bundle_root=str(BUNDLE),
        dataset_dir=str(inputs),
        output_dir=str(output),
        ckpt_dir=str(models),
        pixdim=pixdim,
        spatial_size=[96, 96],
        network_def={"_target_": f"{__name__}.CentreSliceThreshold"},
    )
    _run(infer)


def test_inference_chain_is_voxel_exact_on_several_studies(tmp_path: Path) -> None:
    """A folder with a DICOM series (LPS, flipped to RAS inside) and a NIfTI volume: each mask equals the HU
    threshold of its own input, voxel for voxel, in the input's voxel order."""
    ct = require_data("ct_volumes")
    inputs = tmp_path / "studies"
    (inputs / "patient_b").mkdir(parents=True)
    os.symlink(ct / "example_ct_dicom", inputs / "patient_a")
    os.symlink(ct / "example_ct_sm.nii.gz", inputs / "patient_b" / "ct.nii.gz")
    output = tmp_path / "masks"
    _threshold_inference(ct, inputs, output, tmp_path, pixdim=[-1.0, -1.0])  # native spacing: no interpolation
    found = sorted(p.relative_to(output).as_posix() for p in output.rglob("*.nii.gz"))
    assert found == ["studies/patient_a_mask.nii.gz", "studies/patient_b/ct_mask.nii.gz"]
    for source, mask_file in (
        (ct / "example_ct_dicom", output / found[0]),
        (ct / "example_ct_sm.nii.gz", output / found[1]),
    ):
        image = LoadMedicalImage(ensure_channel_first=True)(source)
        mask = nibabel.load(mask_file)
        expected = (image[0].numpy() > HU_THRESHOLD).astype(np.uint8)
        assert 0 < expected.sum() < expected.size
        np.testing.assert_array_equal(np.asanyarray(mask.dataobj), expected)
        np.testing.assert_allclose(mask.affine, image.affine.numpy(), atol=1e-4)


def test_inference_resampled_mask_is_back_on_the_input_grid(tmp_path: Path) -> None:
    """At 2 mm in-plane (the series has 0.98 mm) the mask is computed on a coarser grid and resampled back by
    Invertd: same shape and affine as the input, and it agrees with the native-grid threshold almost everywhere."""
    ct = require_data("ct_volumes")
    output = tmp_path / "masks"
    _threshold_inference(ct, ct / "example_ct_dicom", output, tmp_path, pixdim=[2.0, 2.0])
    mask = nibabel.load(output / "example_ct_dicom_mask.nii.gz")
    image = LoadMedicalImage(ensure_channel_first=True)(ct / "example_ct_dicom")
    assert mask.shape == tuple(image.shape[1:])
    np.testing.assert_allclose(mask.affine, image.affine.numpy(), atol=1e-4)
    expected = image[0].numpy() > HU_THRESHOLD
    agreement = float((np.asanyarray(mask.dataobj).astype(bool) == expected).mean())
    assert agreement > 0.97, agreement


def test_inference_refuses_values_that_are_not_hu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    display = tmp_path / "display.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.full((16, 16, 4), 128, np.uint8), np.eye(4)), display)
    infer = _workflow(
        "inference_ct.json",
        "infer",
        "run",
        bundle_root=str(BUNDLE),
        dataset_dir=str(display),
        output_dir=str(tmp_path / "masks"),
        ckpt_dir=str(tmp_path / "models"),
    )
    with pytest.raises(SystemExit) as info:
        infer.initialize()
        infer.run()
    message = str(info.value.code)
    assert str(display) in message and "Hounsfield" in message and "Fix:" in message
    assert not (tmp_path / "masks").exists(), "nothing is written before the input is checked"


def test_training_refuses_a_label_map_off_its_image(tmp_path: Path) -> None:
    """Same shape, but 30 mm away: the generic datalist check (sizes) passes, the CT check (affines) stops it."""
    ct = require_data("ct_volumes")
    seg = nibabel.load(ct / "example_seg.nii.gz")
    shifted = seg.affine.copy()
    shifted[2, 3] += 30.0
    moved = tmp_path / "seg_moved.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.asanyarray(seg.dataobj), shifted), moved)
    datalist = tmp_path / "bad.json"
    datalist.write_text(
        json.dumps(
            {
                "training": [{"image": str(ct / "example_ct_sm.nii.gz"), "label": str(moved)}],
                "validation": [{"image": str(ct / "example_ct_dicom"), "label": str(ct / "example_seg_dicom.nii.gz")}],
            }
        )
    )
    train = _workflow(
        "train_ct.json",
        "train",
        "training",
        bundle_root=str(BUNDLE),
        datalist=str(datalist),
        output_dir=str(tmp_path / "eval"),
        ckpt_dir=str(tmp_path / "models"),
    )
    with pytest.raises(SystemExit) as info:
        train.initialize()
    message = str(info.value.code)
    assert f"[training #0 label] {moved}: label map affine differs" in message and "ResampleToMatchd" in message
    assert not (tmp_path / "models").exists()
