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
"""EnsureRGB, EnsureGrayscale and BinarizeMask on synthetic inputs and on real Kvasir-SEG masks and chest X-rays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_fusion.transforms.channels.array import BinarizeMask, EnsureGrayscale, EnsureRGB
from monai_fusion.transforms.io import LoadMedicalImage
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

RNG = np.random.default_rng(0)
IMG4 = RNG.integers(0, 256, size=(4, 5, 6)).astype(np.float32)  # RGBA-like, channel first


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_ensure_rgb(to_type, channels):
    src = IMG4[:channels]
    out = EnsureRGB()(to_type(src))
    assert isinstance(out, torch.Tensor) and out.shape == (3, 5, 6)
    expected = np.repeat(src[:1], 3, axis=0) if channels <= 2 else src[:3]
    np.testing.assert_array_equal(to_numpy(out), expected)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_ensure_rgb_keeps_16_bit_values(to_type):
    src = np.array([[[0, 1000], [40000, 65535]]], dtype=np.uint16)
    out = EnsureRGB()(to_type(src))
    np.testing.assert_array_equal(to_numpy(out.to(torch.int64)), np.repeat(src, 3, axis=0).astype(np.int64))
    np.testing.assert_array_equal(to_numpy(EnsureGrayscale()(to_type(src)).to(torch.int64)), src.astype(np.int64))


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_ensure_grayscale(to_type, channels):
    src = IMG4[:channels]
    out = EnsureGrayscale()(to_type(src))
    assert out.shape == (1, 5, 6)
    if channels <= 2:
        expected = src[:1]
    else:
        expected = (0.299 * src[0] + 0.587 * src[1] + 0.114 * src[2])[None]
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-6, atol=1e-4)


def test_ensure_grayscale_custom_weights_and_validation():
    out = EnsureGrayscale(weights=(0.0, 1.0, 0.0))(IMG4[:3])
    np.testing.assert_array_equal(to_numpy(out), IMG4[1:2])
    with pytest.raises(ValueError, match="sum"):
        EnsureGrayscale(weights=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="1, 2, 3 or 4 channels"):
        EnsureGrayscale()(np.zeros((5, 2, 2)))
    with pytest.raises(ValueError, match="EnsureChannelFirst"):
        EnsureRGB()(np.zeros((6, 2, 2)))


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_binarize_mask_threshold_and_channel(to_type):
    src = np.array([[[0, 127, 128, 255]], [[255, 255, 0, 0]]], dtype=np.float32)  # (2, 1, 4)
    out = BinarizeMask()(to_type(src))
    assert out.shape == (1, 1, 4) and out.dtype == torch.float32
    np.testing.assert_array_equal(to_numpy(out), [[[0, 0, 1, 1]]])  # 128 means "> 127"
    np.testing.assert_array_equal(to_numpy(BinarizeMask(threshold=127, channel=1)(to_type(src))), [[[1, 1, 0, 0]]])
    with pytest.raises(ValueError, match="channel=2 does not exist"):
        BinarizeMask(channel=2)(to_type(src))
    with pytest.raises(ValueError, match="channel must be >= 0"):
        BinarizeMask(channel=-1)


@pytest.mark.parametrize("transform", [EnsureRGB(), EnsureGrayscale(), BinarizeMask()])
def test_palette_indices_are_refused(transform):
    indices = MetaTensor(torch.zeros(1, 3, 3), meta={"mode": "P", "filename_or_obj": "mask.png"})
    with pytest.raises(ValueError, match="mask.png was read as a palette PNG"):
        transform(indices)


@pytest.mark.data
def test_kvasir_jpeg_mask_binarises_to_a_clean_mask():
    folder = require_data("kvasir_seg", "masks")
    for path in sorted(folder.glob("*.jpg"))[:3]:
        raw = np.asarray(Image.open(path))
        assert raw.shape == (256, 256, 3) and len(np.unique(raw)) > 2  # JPEG noise around the border
        mask = BinarizeMask(threshold=128)(LoadMedicalImage(ensure_channel_first=True)(path))
        assert mask.shape == (1, 256, 256)
        assert set(np.unique(to_numpy(mask)).tolist()) == {0.0, 1.0}
        np.testing.assert_array_equal(to_numpy(mask)[0], (raw[..., 0] > 127).T)  # PILReader swaps H and W
        assert 0.01 < float(mask.mean()) < 0.6


@pytest.mark.data
def test_grayscale_chest_xray_to_rgb():
    path = sorted(require_data("chest_xray_pneumonia", "NORMAL").glob("*.jpeg"))[0]
    pil = Image.open(path)
    assert pil.mode == "L"
    img = LoadMedicalImage(ensure_channel_first=True)(path)
    assert img.shape == (1, pil.width, pil.height)
    rgb = EnsureRGB()(img)
    assert rgb.shape == (3, pil.width, pil.height)
    for c in range(3):
        np.testing.assert_array_equal(to_numpy(rgb[c]), np.asarray(pil, dtype=np.float32).T)
    np.testing.assert_allclose(to_numpy(EnsureGrayscale()(rgb)), to_numpy(img), atol=1e-3)
