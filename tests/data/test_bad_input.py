# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Issue 8, bad input: real files from ../shared/data made faulty, one case per test.

Each file is either refused by ``validate_datalist`` (which ``bundle_utils.prepare_datalist`` runs before training)
with an error naming the file, the reason and a fix, or accepted and read by the bundles' own preprocessing
(``validate#preprocessing`` of the bundle's ``train.json``) exactly as documented, with nothing lost.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from monai_fusion import bundle_utils
from monai_fusion.data.validate import DatalistValidationError, validate_datalist
from tests.utils import REPO_ROOT, require_data


def _real_image(dataset: str = "ham10000") -> Path:
    if dataset == "ham10000":
        return sorted((require_data("ham10000") / "images").glob("ISIC_*.jpg"))[0]
    return sorted((require_data("chest_xray_pneumonia") / "NORMAL").iterdir())[0]


def _datalist(bad: Path, channels: list[int] | None = (3,)) -> dict:
    """A classification datalist of real HAM10000 images whose first training item is ``bad``."""
    good = sorted((require_data("ham10000") / "images").glob("ISIC_*.jpg"))[1:4]
    items = [{"image": str(p), "label": 0, "case_id": p.stem, "group": p.stem} for p in [bad, *good]]
    datalist = {"task": "classification", "class_names": ["a"], "training": items[:2], "validation": items[2:]}
    if channels is not None:
        datalist["channels"] = {"image": list(channels)}
    return datalist


def _refused(bad: Path, channels: list[int] | None = (3,)) -> str:
    """Validate, expect exactly one problem, on ``bad``, with a fix; return the message."""
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(_datalist(bad, channels), progress=False)
    assert len(err.value.problems) == 1, err.value.problems
    problem = err.value.problems[0]
    assert problem.path == str(bad) and problem.section == "training" and problem.index == 0
    assert problem.reason and problem.fix
    message = str(err.value)
    assert str(bad) in message and "Fix: " in message
    return message


def _preprocess(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """The evaluation chain of a classification bundle (``validate#preprocessing`` of its ``train.json``) at the image's
    own size, with no normalisation: what the network would get."""
    parser = ConfigParser()
    parser.read_config(str(REPO_ROOT / "bundles" / "cdfinet" / "configs" / "train.json"))
    parser.update({"image_size": list(size), "eval_resize_ratio": 1.0, "colour_constancy": False})
    parser.update({"intensity_mean": [0.0, 0.0, 0.0], "intensity_std": [1.0, 1.0, 1.0]})
    chain = parser.get_parsed_content("validate#preprocessing")
    return chain({"image": str(path), "label": 0})["image"]


def test_zero_byte_file(tmp_path: Path) -> None:
    bad = tmp_path / _real_image().name
    bad.write_bytes(b"")
    message = _refused(bad)
    assert "empty file (0 bytes)" in message and "re-download" in message


def test_non_image_file_with_an_image_extension(tmp_path: Path) -> None:
    bad = tmp_path / "ISIC_9999999.jpg"
    shutil.copy(require_data("ham10000") / "HAM10000_metadata.csv", bad)  # a real CSV under a .jpg name
    message = _refused(bad)
    assert "not an image" in message and "b'lesion_id,image_id" in message and "failed download" in message


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    series = require_data("ct_volumes", "example_ct_dicom")
    ds = pydicom.dcmread(sorted(series.iterdir())[0])
    del ds.PixelData
    bad = tmp_path / "slice.dcm"
    ds.save_as(bad)
    message = _refused(bad, channels=[1, 3])
    assert "has no pixel data" in message and "not an image" in message and "export the image again" in message


def test_dicom_series_with_one_slice_without_pixel_data(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    series = require_data("ct_volumes", "example_ct_dicom")
    folder = tmp_path / "series"
    shutil.copytree(series, folder, ignore=lambda d, names: sorted(names)[3:])
    victim = sorted(folder.iterdir())[1]
    ds = pydicom.dcmread(victim)
    del ds.PixelData
    ds.save_as(victim)
    message = _refused(folder, channels=[1, 3])
    assert f"DICOM file {victim.name} has no pixel data" in message and "series folder" in message


def test_nifti_with_4d_data(tmp_path: Path) -> None:
    volume = nib.load(require_data("ct_volumes", "example_ct_sm.nii.gz"))
    data = np.asanyarray(volume.dataobj)
    bad = tmp_path / "two_volumes.nii.gz"
    nib.save(nib.Nifti1Image(np.stack([data, data + 1], axis=-1), volume.affine), bad)
    message = _refused(bad, channels=[1, 3])
    assert "is 4-D: its 4th axis is read as 2 channel(s), expected 1 or 3" in message
    assert "image.slicer" in message
    five_d = tmp_path / "five_d.nii.gz"
    nib.save(nib.Nifti1Image(data[..., None, None, None].repeat(2, axis=-1), volume.affine), five_d)
    message = _refused(five_d, channels=None)  # refused even when the datalist puts no limit on channels
    assert "has 6 axes" in message or "has 5 axes" in message


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_a_float_nifti(tmp_path: Path, value: float) -> None:
    pixels = np.asarray(Image.open(_real_image("cxr")).convert("L"), dtype=np.float32)
    pixels[10, 20] = value
    bad = tmp_path / "xray.nii.gz"
    nib.save(nib.Nifti1Image(pixels[..., None], np.eye(4)), bad)
    message = _refused(bad, channels=[1, 3])
    expected = "holds 1 NaN and 0 infinite" if np.isnan(value) else "holds 0 NaN and 1 infinite"
    assert expected in message and "nan_to_num" in message


def test_nan_in_a_float_tiff(tmp_path: Path) -> None:
    pixels = np.asarray(Image.open(_real_image("cxr")).convert("L"), dtype=np.float32)
    clean = tmp_path / "clean.tif"
    Image.fromarray(pixels).save(clean)
    assert validate_datalist(_datalist(clean, channels=[1, 3]), progress=False) == 4  # the float TIFF itself is fine
    pixels[5, 5] = np.nan
    bad = tmp_path / "xray.tif"
    Image.fromarray(pixels).save(bad)
    assert "holds 1 NaN and 0 infinite" in _refused(bad, channels=[1, 3])


def test_palette_png_is_read_as_its_colours(tmp_path: Path) -> None:
    """A colour palette PNG counts as 3 channels (as ``LoadMedicalImage`` decodes it), passes an RGB-only datalist,
    and reaches the network as the palette's RGB colours, not as palette indices."""
    with Image.open(_real_image()) as im:
        palette = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    bad = tmp_path / "palette.png"
    palette.save(bad)
    assert Image.open(bad).mode == "P"
    assert validate_datalist(_datalist(bad, channels=[3]), progress=False) == 4
    as_rgb = tmp_path / "as_rgb.png"
    palette.convert("RGB").save(as_rgb)  # lossless: the colours the palette stands for
    size = palette.size  # the loader gives (C, W, H)
    torch.testing.assert_close(_preprocess(bad, size), _preprocess(as_rgb, size), rtol=0, atol=0)


def test_16_bit_png_keeps_its_precision(tmp_path: Path) -> None:
    """A 16-bit grayscale PNG is accepted (1 channel) and keeps all 16 bits: ``ToUnitRange`` min-max scales it to
    [0, 1] (data above 255 is not 8-bit), then ``EnsureRGB`` repeats it into 3 channels."""
    high = np.asarray(Image.open(_real_image("cxr")).convert("L"), dtype=np.uint16)
    low = np.asarray(
        Image.open(sorted((require_data("chest_xray_pneumonia") / "PNEUMONIA").iterdir())[0])
        .convert("L")
        .resize(high.shape[::-1]),
        dtype=np.uint16,
    )
    pixels = high * 256 + low  # real data in the low byte too
    bad = tmp_path / "xray16.png"
    Image.fromarray(pixels).save(bad)
    assert Image.open(bad).mode == "I;16"
    assert validate_datalist(_datalist(bad, channels=[1, 3]), progress=False) == 4
    out = _preprocess(bad, pixels.shape[::-1])
    assert out.shape[0] == 3 and torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    lo, hi = float(pixels.min()), float(pixels.max())
    expected = torch.as_tensor((pixels.T.astype(np.float64) - lo) / (hi - lo), dtype=torch.float32)  # PIL: (W, H)
    torch.testing.assert_close(out[0], expected, rtol=0, atol=1e-6)  # an 8-bit read would be off by up to 1/256
    assert len(torch.unique(out[0])) > 256


def test_grayscale_where_rgb_is_expected(tmp_path: Path) -> None:
    """The datalist's ``channels`` decides. Dermoscopy datalists allow only RGB ([3]): a grayscale image there is
    refused. Datalists that allow 1 channel (chest X-ray: [1, 3]) accept it, and ``EnsureRGB`` repeats the gray
    channel into 3 identical channels."""
    gray = tmp_path / "gray.png"
    with Image.open(_real_image()) as im:
        im.convert("L").save(gray)
    message = _refused(gray, channels=[3])
    assert "has 1 channel(s), expected 3" in message and "channel transform" in message
    assert validate_datalist(_datalist(gray, channels=[1, 3]), progress=False) == 4
    size = Image.open(gray).size  # the loader gives (C, W, H)
    out = _preprocess(gray, size)
    reference = torch.as_tensor(np.asarray(Image.open(gray), dtype=np.float32).T / 255.0)
    for channel in out:
        torch.testing.assert_close(channel, reference, rtol=0, atol=1e-6)


def test_bundle_stops_before_training_on_bad_files(tmp_path: Path) -> None:
    """Through the bundles' entry point: every new case is reported together, nothing is written."""
    pydicom = pytest.importorskip("pydicom")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    shutil.copy(require_data("ham10000") / "HAM10000_metadata.csv", text)
    ds = pydicom.dcmread(sorted(require_data("ct_volumes", "example_ct_dicom").iterdir())[0])
    del ds.PixelData
    no_pixels = tmp_path / "no_pixels.dcm"
    ds.save_as(no_pixels)
    datalist = _datalist(empty, channels=[1, 3])
    datalist["training"].append({"image": str(text), "label": 0, "case_id": "t", "group": "t"})
    datalist["validation"].append({"image": str(no_pixels), "label": 0, "case_id": "d", "group": "d"})
    path = tmp_path / "datalist.json"
    path.write_text(json.dumps(datalist))
    out = tmp_path / "out"
    with pytest.raises(DatalistValidationError) as err:
        bundle_utils.prepare_datalist("ham10000", datalist=str(path), output_dir=str(out), class_names=["a"])
    assert sorted(p.path for p in err.value.problems) == sorted(map(str, (empty, text, no_pixels)))
    assert not out.exists()
