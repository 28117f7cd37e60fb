# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""scripts/ct_overlay.py: draws the mask over its CT slice, refuses a mask that is not on the CT's voxel grid."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel
import numpy as np
import pytest
from PIL import Image

from tests.utils import REPO_ROOT

_spec = importlib.util.spec_from_file_location("ct_overlay", REPO_ROOT / "scripts" / "ct_overlay.py")
ct_overlay = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ct_overlay)

AFFINE = np.diag([-0.8, -0.8, 2.5, 1.0])  # LPS-like storage, as a DICOM series is read


def _volumes(tmp_path: Path) -> tuple[Path, Path]:
    ct = np.full((24, 20, 5), -1000, np.int16)
    ct[6:18, 5:15] = 40
    mask = np.zeros(ct.shape, np.uint8)
    mask[8:12, 6:10, 3] = 1
    nibabel.save(nibabel.Nifti1Image(ct, AFFINE), tmp_path / "ct.nii.gz")
    nibabel.save(nibabel.Nifti1Image(mask, AFFINE), tmp_path / "mask.nii.gz")
    return tmp_path / "ct.nii.gz", tmp_path / "mask.nii.gz"


def test_draws_the_slice_with_the_largest_mask(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ct, mask = _volumes(tmp_path)
    out = tmp_path / "fig" / "overlay.png"
    assert ct_overlay.main(["--image", str(ct), "--mask", str(mask), "--label", str(mask), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "same voxel grid (shape and affine): True" in text and "axial slice 3 of 5" in text
    with Image.open(out) as png:
        # 8 x 4.6 in at 90 dpi, cropped to what is drawn (bbox_inches="tight"): two panels side by side
        assert png.format == "PNG" and 600 <= png.size[0] <= 760 and 340 <= png.size[1] <= 440, png.size
        assert png.size[0] > 1.5 * png.size[1]


def test_screen_convention_is_slicers() -> None:
    axial = np.zeros((3, 2))  # (R, A): RAS axis 0 grows towards the patient's right, axis 1 towards anterior
    axial[2, 1] = 1  # the most right and most anterior voxel
    screen = ct_overlay._screen(axial)
    assert screen.shape == (2, 3) and screen[0, 0] == 1  # radiological view: patient right on the left, anterior up


def test_refuses_a_mask_off_the_grid(tmp_path: Path) -> None:
    ct, _ = _volumes(tmp_path)
    moved = tmp_path / "moved.nii.gz"
    shifted = AFFINE.copy()
    shifted[0, 3] = 5.0
    nibabel.save(nibabel.Nifti1Image(np.zeros((24, 20, 5), np.uint8), shifted), moved)
    assert ct_overlay.main(["--image", str(ct), "--mask", str(moved), "--output", str(tmp_path / "x.png")]) == 1
    assert not (tmp_path / "x.png").exists()
