# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""MultiWindowStackIfHU(d): HU windows for DICOM / NIfTI sources, PNG / JPEG slices kept as they are."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import torch
from PIL import Image

from monai_fusion.transforms import LoadMedicalImage, MultiWindowStack, MultiWindowStackIfHU, MultiWindowStackIfHUd
from tests.utils import require_data

WINDOWS = [[1500, -600], [350, 50], [1800, 400]]


def test_nifti_is_windowed_png_is_kept(tmp_path: Path) -> None:
    hu = np.array([[-1000, -600], [40, 1000]], dtype=np.int16)[..., None]  # (2, 2, 1) NIfTI slice
    nibabel.save(nibabel.Nifti1Image(hu, np.eye(4)), tmp_path / "slice.nii.gz")
    Image.fromarray(np.array([[0, 51], [102, 255]], dtype=np.uint8)).save(tmp_path / "slice.png")
    load = LoadMedicalImage(ensure_channel_first=True)
    convert = MultiWindowStackIfHU(WINDOWS)
    windowed = convert(load(tmp_path / "slice.nii.gz"))
    torch.testing.assert_close(windowed, MultiWindowStack(WINDOWS)(load(tmp_path / "slice.nii.gz")))
    assert windowed.shape == (3, 2, 2, 1) and float(windowed.max()) <= 1.0
    kept = convert(load(tmp_path / "slice.png"))
    assert kept.shape == (3, 2, 2)
    np.testing.assert_allclose(sorted(kept[0].flatten().tolist()), [0.0, 0.2, 0.4, 1.0])  # display / 255, no window
    assert torch.equal(kept[0], kept[1]) and torch.equal(kept[1], kept[2])  # gray repeated to RGB


def test_dicom_series_and_dictionary_version() -> None:
    series = require_data("ct_volumes", "example_ct_dicom")
    image = LoadMedicalImage(ensure_channel_first=True)(series)
    out = MultiWindowStackIfHUd(keys="image", windows=WINDOWS)({"image": image})["image"]
    assert out.shape == (3, 512, 512, 20)
    torch.testing.assert_close(out, MultiWindowStack(WINDOWS)(image))


def test_plain_tensor_counts_as_display_intensities() -> None:
    out = MultiWindowStackIfHU(WINDOWS)(torch.full((1, 2, 2), 255.0))
    assert out.shape == (3, 2, 2) and torch.all(out == 1.0)
