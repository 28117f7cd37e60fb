# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Bad CT input is refused before any work starts, with the file and the fix: values that are not HU, a 4-D volume,
a DICOM series with missing or unevenly spaced slices, a label map off its image's grid. The real volumes in
../shared/data pass."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from monai_fusion.data import (
    DatalistValidationError,
    check_ct_datalist,
    check_ct_image,
    check_ct_label,
    list_ct_studies,
)
from monai_fusion.data.validate import ImageFileError
from tests.utils import require_data

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    nibabel.save(nibabel.Nifti1Image(data, affine), path)
    return path


def _ct(shape: tuple[int, ...] = (8, 8, 4)) -> np.ndarray:
    data = np.full(shape, -1000, dtype=np.int16)  # air around a water-like body
    data[2:6, 2:6] = 40
    return data


def _series(folder: Path, z_positions: list[float], series_uids: list[str] | None = None) -> Path:
    folder.mkdir()
    uid = generate_uid()
    for i, z in enumerate(z_positions):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uids[i] if series_uids else uid
        ds.Modality, ds.InstanceNumber = "CT", i + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, z]
        ds.PixelSpacing = [0.8, 0.8]
        ds.Rows = ds.Columns = 8
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = _ct((8, 8, 1))[..., 0].tobytes()
        ds.save_as(folder / f"{i:03d}.dcm", enforce_file_format=True)
    return folder


def test_good_synthetic_volume_and_series_pass(tmp_path: Path) -> None:
    shape, affine = check_ct_image(_nifti(tmp_path / "ct.nii.gz", _ct()))
    assert shape == (8, 8, 4) and np.allclose(affine, AFFINE)
    shape, affine = check_ct_image(_series(tmp_path / "series", [0.0, 2.5, 5.0, 7.5]))
    assert shape == (8, 8, 4)
    assert np.allclose(np.diag(affine), [-0.8, -0.8, 2.5, 1.0])  # LPS headers -> RAS


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.linspace(0, 255, 256).reshape(8, 8, 4).astype(np.uint8), "8-bit display intensities"),
        ((_ct() + 1024).astype(np.uint16), "RescaleIntercept"),
    ],
    ids=["display_0_255", "raw_stored_values"],
)
def test_values_that_are_not_hu_are_refused(tmp_path: Path, data: np.ndarray, expected: str) -> None:
    path = _nifti(tmp_path / "ct.nii.gz", data)
    with pytest.raises(ImageFileError, match=expected) as info:
        check_ct_image(path)
    assert "Hounsfield" in str(info.value) and "hu_check" in info.value.fix
    check_ct_image(path, hu_check=False)  # the stated way out for data windowed on purpose


def test_four_d_volume_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match=r"4-D volume of shape \(8, 8, 4, 2\)") as info:
        check_ct_image(_nifti(tmp_path / "ct4d.nii.gz", np.stack([_ct(), _ct()], axis=-1)))
    assert "slicer" in info.value.fix


def test_series_with_a_missing_slice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match=r"1 slice\(s\) missing: gap\(s\) of 5.00 mm") as info:
        check_ct_image(_series(tmp_path / "series", [0.0, 2.5, 5.0, 10.0, 12.5]))
    assert "complete series" in info.value.fix


def test_series_with_unequal_spacing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match=r"unequal slice spacing: gaps of 1.00, 2.50 mm"):
        check_ct_image(_series(tmp_path / "series", [0.0, 2.5, 5.0, 7.5, 8.5]))


def test_folder_with_two_series_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="2 DICOM series"):
        check_ct_image(_series(tmp_path / "series", [0.0, 2.5], series_uids=["1.2.3", "1.2.4"]))


def test_label_off_the_image_grid_is_refused(tmp_path: Path) -> None:
    image = _nifti(tmp_path / "ct.nii.gz", _ct())
    check_ct_label(image, _nifti(tmp_path / "ok.nii.gz", np.zeros((8, 8, 4), np.uint8)))
    flipped = AFFINE @ np.array([[-1, 0, 0, 7], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])  # same grid, x reversed
    check_ct_label(image, _nifti(tmp_path / "flipped.nii.gz", np.zeros((8, 8, 4), np.uint8), flipped))
    with pytest.raises(ImageFileError, match=r"shape \(8, 8, 3\) differs from its image's \(8, 8, 4\)") as info:
        check_ct_label(image, _nifti(tmp_path / "short.nii.gz", np.zeros((8, 8, 3), np.uint8)))
    assert "ResampleToMatchd" in info.value.fix
    shifted = AFFINE.copy()
    shifted[2, 3] = 5.0
    with pytest.raises(ImageFileError, match="affine differs"):
        check_ct_label(image, _nifti(tmp_path / "shifted.nii.gz", np.zeros((8, 8, 4), np.uint8), shifted))


def test_datalist_check_lists_every_bad_file(tmp_path: Path) -> None:
    good = _nifti(tmp_path / "good.nii.gz", _ct())
    display = _nifti(tmp_path / "display.nii.gz", np.full((8, 8, 4), 128, np.uint8))
    label = _nifti(tmp_path / "label.nii.gz", np.zeros((8, 8, 4), np.uint8))
    short = _nifti(tmp_path / "short.nii.gz", np.zeros((8, 8, 2), np.uint8))
    datalist = {
        "training": [{"image": str(good), "label": str(label)}, {"image": str(display), "label": str(label)}],
        "validation": [{"image": str(good), "label": str(short)}],
    }
    with pytest.raises(DatalistValidationError) as info:
        check_ct_datalist(datalist)
    problems = info.value.problems
    assert [(p.section, p.index, p.key, Path(p.path).name) for p in problems] == [
        ("training", 1, "image", "display.nii.gz"),
        ("validation", 0, "label", "short.nii.gz"),
    ]
    assert "Fix:" in str(info.value)
    ok = {"training": datalist["training"][:1]}
    assert check_ct_datalist(ok, sections=["training"]) is ok


def test_list_ct_studies_finds_nifti_files_and_series_folders(tmp_path: Path) -> None:
    _series(tmp_path / "study1", [0.0, 2.5])
    (tmp_path / "study2").mkdir()
    _series(tmp_path / "study2" / "series_a", [0.0, 2.5])
    _nifti(tmp_path / "study2" / "ct.nii.gz", _ct())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "slice.png").write_bytes(b"")
    found = [Path(item["image"]).relative_to(tmp_path).as_posix() for item in list_ct_studies(tmp_path)]
    assert found == ["study1", "study2/ct.nii.gz", "study2/series_a"]
    with_2d = [Path(i["image"]).relative_to(tmp_path).as_posix() for i in list_ct_studies(tmp_path, images_2d=True)]
    assert with_2d == ["slice.png", "study1", "study2/ct.nii.gz", "study2/series_a"]


def test_real_ct_volumes_pass() -> None:
    root = require_data("ct_volumes")
    datalist = {
        "training": [
            {"image": str(root / "example_ct_dicom"), "label": str(root / "example_seg_dicom.nii.gz")},
            {"image": str(root / "example_ct_sm.nii.gz"), "label": str(root / "example_seg.nii.gz")},
            {"image": str(root / "aorta" / "ct_cropped.nii.gz"), "label": str(root / "aorta" / "aorta.nii.gz")},
        ]
    }
    assert check_ct_datalist(datalist, sections=["training"]) is datalist
    with pytest.raises(DatalistValidationError, match="differs from its image's"):
        check_ct_datalist({"training": [{**datalist["training"][1], "image": str(root / "example_ct.nii.gz")}]})
