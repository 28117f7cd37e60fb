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
"""ShadesOfGray (recomputed with numpy, on a real HAM10000 JPEG) and MacenkoNormalize (against MONAI, channel last)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.apps.pathology.transforms import NormalizeHEStains
from monai.data import MetaTensor
from PIL import Image

from monai_fusion.transforms.color.array import MacenkoNormalize, ShadesOfGray
from monai_fusion.transforms.io import LoadMedicalImage
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

RNG = np.random.default_rng(0)
# a warm-tinted image: red strong, blue weak
TINTED = (RNG.uniform(0, 1, size=(3, 7, 9)) * np.array([230.0, 150.0, 90.0])[:, None, None]).astype(np.float32)


def _shades_of_gray(img: np.ndarray, p: float, max_value: float | None) -> np.ndarray:
    flat = img.reshape(img.shape[0], -1).astype(np.float64)
    e = flat.max(axis=1) if math.isinf(p) else np.mean(flat**p, axis=1) ** (1.0 / p)
    e_unit = e / np.linalg.norm(e)
    out = img / (e_unit[:, None, None] * np.sqrt(img.shape[0]))
    return out if max_value is None else np.clip(out, 0, max_value)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("p, max_value", [(6.0, 255.0), (1.0, None), (math.inf, 255.0), (2.5, 120.0)])
def test_shades_of_gray_matches_numpy(to_type, p, max_value):
    out = ShadesOfGray(p=p, max_value=max_value)(to_type(TINTED))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == TINTED.shape
    np.testing.assert_allclose(to_numpy(out), _shades_of_gray(TINTED, p, max_value), rtol=1e-5, atol=1e-3)


def test_shades_of_gray_makes_the_illuminant_neutral():
    out = to_numpy(ShadesOfGray(p=6, max_value=None)(TINTED)).astype(np.float64)
    e_out = np.mean(out.reshape(3, -1) ** 6, axis=1) ** (1 / 6)
    np.testing.assert_allclose(e_out, e_out.mean(), rtol=1e-5)
    e_in = np.mean(TINTED.reshape(3, -1).astype(np.float64) ** 6, axis=1) ** (1 / 6)
    np.testing.assert_allclose(np.linalg.norm(e_out), np.linalg.norm(e_in), rtol=1e-5)  # brightness kept


def test_shades_of_gray_edge_cases():
    black_blue = TINTED.copy()
    black_blue[2] = 0.0
    assert torch.isfinite(ShadesOfGray()(black_blue)).all()
    meta = MetaTensor(torch.as_tensor(TINTED), meta={"filename_or_obj": "x.jpg"})
    assert ShadesOfGray()(meta).meta["filename_or_obj"] == "x.jpg"
    with pytest.raises(ValueError, match="p must be >= 1"):
        ShadesOfGray(p=0.5)
    with pytest.raises(ValueError, match="max_value"):
        ShadesOfGray(max_value=0)
    with pytest.raises(ValueError, match="C >= 2"):
        ShadesOfGray()(TINTED[:1])


@pytest.mark.data
def test_shades_of_gray_on_a_real_ham10000_image():
    path = require_data("ham10000", "images", "ISIC_0024306.jpg")
    rgb = np.asarray(Image.open(path), dtype=np.float64)  # (H, W, 3)
    img = LoadMedicalImage(ensure_channel_first=True)(path)  # (3, W, H)
    out = ShadesOfGray(p=6, max_value=None)(img)
    e_in = np.mean(rgb.reshape(-1, 3) ** 6, axis=0) ** (1 / 6)
    assert e_in[0] > 1.5 * e_in[1]  # a strong red cast to correct
    expected = np.moveaxis(rgb, -1, 0) * (np.linalg.norm(e_in) / (np.sqrt(3) * e_in))[:, None, None]
    np.testing.assert_allclose(to_numpy(out), np.swapaxes(expected, 1, 2), rtol=1e-5, atol=1e-3)
    e_out = np.mean(to_numpy(out).reshape(3, -1).astype(np.float64) ** 6, axis=1) ** (1 / 6)
    np.testing.assert_allclose(e_out, e_out.mean(), rtol=1e-4)
    clipped = ShadesOfGray()(img)
    assert float(clipped.max()) <= 255.0 and float(clipped.min()) >= 0.0


def _he_like(h: int = 20, w: int = 28) -> np.ndarray:
    """A (3, H, W) image made by Beer-Lambert from Ruifrok's H&E vectors and random stain amounts."""
    stains = np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])
    conc = RNG.uniform(0.1, 1.5, size=(2, h * w))
    return np.clip(np.rint(240.0 * np.exp(-(stains @ conc))), 0, 255).reshape(3, h, w).astype(np.float32)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_macenko_equals_monai_on_the_channel_last_image(to_type):
    img = _he_like()
    out = MacenkoNormalize()(to_type(img))
    assert isinstance(out, torch.Tensor) and out.shape == (3, 20, 28) and out.dtype == torch.float32
    reference = NormalizeHEStains()(np.moveaxis(img, 0, -1).astype(np.uint8))  # MONAI's own layout
    np.testing.assert_array_equal(to_numpy(out), np.moveaxis(reference, -1, 0).astype(np.float32))
    assert not np.array_equal(to_numpy(out), img)  # it did change the colours


def test_macenko_rejects_wrong_layout_and_range():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        MacenkoNormalize()(np.moveaxis(_he_like(), 0, -1))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        MacenkoNormalize()(_he_like() / 255.0 - 0.5)
