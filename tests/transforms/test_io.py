# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""LoadMedicalImage(d): palette PNG decoding, 16-bit PNGs, real HAM10000 / COVID-CT files, and DICOM decoder checks.

The "decoder absent" path is simulated by emptying pydicom's JPEG 2000 plugin table with monkeypatch, not by
uninstalling anything.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from monai.transforms import LoadImage
from PIL import Image
from pydicom import examples

from monai_fusion.transforms.channels.array import BinarizeMask, EnsureGrayscale, EnsureRGB
from monai_fusion.transforms.io import LoadMedicalImage, LoadMedicalImaged, check_dicom_decoder, standardize_pil_mode
from tests.transforms.helpers import to_numpy
from tests.utils import require_data

RNG = np.random.default_rng(0)
INDICES = RNG.integers(0, 4, size=(5, 7), dtype=np.uint8)


def _palette_image(palette_rgb: list[tuple[int, int, int]]) -> Image.Image:
    img = Image.fromarray(INDICES, mode="L").convert("P")
    img.putdata(INDICES.flatten().tolist())
    flat = [v for rgb in palette_rgb for v in rgb]
    img.putpalette(flat + [0] * (768 - len(flat)))
    return img


def test_standardize_pil_mode_decodes_palettes():
    gray = [(255, 255, 255), (170, 170, 170), (85, 85, 85), (0, 0, 0)]  # inverted, like the HAM10000 masks
    out = standardize_pil_mode(_palette_image(gray))
    assert out.mode == "L"
    np.testing.assert_array_equal(np.asarray(out), 255 - 85 * INDICES)
    colour = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]
    out = standardize_pil_mode(_palette_image(colour))
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.array(colour, dtype=np.uint8)[INDICES])
    transparent = _palette_image(gray)
    transparent.info["transparency"] = 0
    assert standardize_pil_mode(transparent).mode == "LA"
    cmyk = Image.new("CMYK", (3, 2), (0, 255, 255, 0))
    assert standardize_pil_mode(cmyk).mode == "RGB"
    np.testing.assert_array_equal(np.asarray(standardize_pil_mode(cmyk))[0, 0], [255, 0, 0])


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "1"])
def test_standardize_pil_mode_keeps_other_modes(mode):
    img = Image.new(mode, (3, 2))
    assert standardize_pil_mode(img) is img


def test_load_palette_and_16_bit_pngs(tmp_path):
    _palette_image([(255, 255, 255), (170, 170, 170), (85, 85, 85), (0, 0, 0)]).save(tmp_path / "p.png")
    raw = LoadImage(ensure_channel_first=True)(tmp_path / "p.png")  # MONAI's PILReader: palette indices
    np.testing.assert_array_equal(to_numpy(raw)[0], INDICES.T)
    fixed = LoadMedicalImage(ensure_channel_first=True)(tmp_path / "p.png")
    np.testing.assert_array_equal(to_numpy(fixed)[0], (255 - 85 * INDICES).T)
    assert fixed.meta["mode"] == "L"
    sixteen = (RNG.integers(0, 65536, size=(5, 7))).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "i16.png")
    img = LoadMedicalImage(ensure_channel_first=True)(tmp_path / "i16.png")
    assert img.meta["mode"].startswith("I;16") and float(img.max()) > 255
    np.testing.assert_array_equal(to_numpy(EnsureRGB()(img))[2], sixteen.T.astype(np.float32))
    Image.fromarray(RNG.integers(0, 256, size=(5, 7, 2), dtype=np.uint8), mode="LA").save(tmp_path / "la.png")
    la = LoadMedicalImage(ensure_channel_first=True)(tmp_path / "la.png")
    assert la.shape == (2, 7, 5) and EnsureGrayscale()(la).shape == (1, 7, 5)


def test_user_converter_runs_after_the_palette_is_decoded(tmp_path):
    from monai.data import PILReader

    _palette_image([(255, 255, 255), (170, 170, 170), (85, 85, 85), (0, 0, 0)]).save(tmp_path / "p.png")
    seen_modes = []

    def user_converter(image):
        seen_modes.append(image.mode)
        return image.convert("RGB")

    img = LoadMedicalImage(reader=PILReader(converter=user_converter), ensure_channel_first=True)(tmp_path / "p.png")
    assert seen_modes == ["L"]  # the palette was already decoded when the user's converter ran
    assert img.shape == (3, 7, 5)
    np.testing.assert_array_equal(to_numpy(img)[1], (255 - 85 * INDICES).T)


@pytest.mark.data
def test_ham10000_palette_mask_is_not_inverted():
    path = require_data("ham10000", "masks", "ISIC_0024316_segmentation.png")
    pil = Image.open(path)
    assert pil.mode == "P"
    truth = np.asarray(pil.convert("L")).T
    plain = to_numpy(LoadImage(ensure_channel_first=True)(path))[0]
    np.testing.assert_array_equal(plain, 255 - truth)  # MONAI alone returns the inverted palette indices
    data = LoadMedicalImaged(keys="label", ensure_channel_first=True)({"label": path})
    mask = BinarizeMask(threshold=128)(data["label"])
    np.testing.assert_array_equal(to_numpy(mask)[0], truth >= 128)
    assert 0.3 < float(mask.mean()) < 0.5  # the lesion, not the (larger) background


@pytest.mark.data
def test_covid_ct_pngs_load_as_grayscale():
    files = sorted(require_data("covid_ct", "CT_COVID").glob("*.png"))
    files += sorted(require_data("covid_ct", "CT_NonCOVID").glob("*.png"))
    first_of_mode: dict[str, object] = {}
    for path in files:
        first_of_mode.setdefault(Image.open(path).mode, path)
    assert first_of_mode, "no COVID-CT PNG found"
    loader = LoadMedicalImage(ensure_channel_first=True)
    for mode, path in first_of_mode.items():
        img = EnsureGrayscale()(loader(path))
        pil = Image.open(path)
        assert img.shape == (1, pil.width, pil.height), mode
        assert 0.0 <= float(img.min()) and float(img.max()) <= 255.0, mode


def test_check_dicom_decoder_uncompressed_and_bad_paths(tmp_path):
    assert check_dicom_decoder(examples.get_path("ct")) == ()
    with pytest.raises(FileNotFoundError):
        check_dicom_decoder(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("not a DICOM file")
    with pytest.raises(ValueError, match="no DICOM file"):
        check_dicom_decoder(tmp_path)


def _hide_jpeg2000_plugins(monkeypatch) -> None:
    decoder = pydicom.pixels.get_decoder(pydicom.uid.JPEG2000Lossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.0")})


@pytest.mark.data
def test_jpeg2000_series_has_a_decoder():
    folder = require_data("ct_volumes", "example_ct_dicom")
    assert len(check_dicom_decoder(folder)) >= 1


@pytest.mark.data
def test_missing_jpeg2000_plugin_gives_a_clear_error(monkeypatch):
    folder = require_data("ct_volumes", "example_ct_dicom")
    _hide_jpeg2000_plugins(monkeypatch)
    expected = [
        "JPEG 2000 Image Compression (Lossless Only) (1.2.840.10008.1.2.4.90)",
        "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-openjpeg>=2.0",
        "pip install pylibjpeg pylibjpeg-openjpeg",
        "example_ct_dicom/CT.",
    ]
    with pytest.raises(RuntimeError) as err:
        check_dicom_decoder(folder)
    assert all(part in str(err.value) for part in expected), str(err.value)
    with pytest.raises(RuntimeError) as err:
        LoadMedicalImage(reader="PydicomReader")(folder)
    assert all(part in str(err.value) for part in expected), str(err.value)
    with pytest.raises(RuntimeError, match="pip install pylibjpeg pylibjpeg-openjpeg"):
        LoadMedicalImaged(keys="image", reader="PydicomReader")({"image": folder})
