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
"""ToUnitRange / ToUnitRanged: 8-bit data divided by 255, anything else min-max scaled; numpy, torch, MetaTensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_fusion.transforms import ToUnitRange, ToUnitRanged
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy

DARK_8BIT = np.array([[[0, 10, 51], [102, 150, 200]]], dtype=np.uint8)  # (1, 2, 3), brightest pixel 200
HU = np.array([[[-1000.0, -500.0], [0.0, 1000.0]]], dtype=np.float32)
SIXTEEN_BIT = np.array([[[0, 256], [1024, 4096]]], dtype=np.uint16)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_8bit_values_are_divided_by_255(to_type):
    out = ToUnitRange()(to_type(DARK_8BIT))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == DARK_8BIT.shape
    np.testing.assert_allclose(to_numpy(out), DARK_8BIT / 255.0, rtol=1e-6)
    assert float(out.max()) < 0.8  # absolute brightness kept: not stretched to 1 as min-max scaling would


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("data", [HU, SIXTEEN_BIT], ids=["HU", "16-bit"])
def test_other_ranges_are_min_max_scaled(to_type, data):
    out = to_numpy(ToUnitRange()(to_type(data)))
    lo, hi = float(data.min()), float(data.max())
    np.testing.assert_allclose(out, (data.astype(np.float64) - lo) / (hi - lo), rtol=1e-6, atol=1e-7)
    assert out.min() == 0.0 and out.max() == 1.0


def test_constant_image_outside_8bit_is_zero_and_empty_image_is_refused():
    np.testing.assert_array_equal(to_numpy(ToUnitRange()(np.full((1, 2, 2), 300.0))), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="empty"):
        ToUnitRange()(np.zeros((1, 0, 3)))


def test_metatensor_keeps_its_metadata():
    affine = torch.diag(torch.tensor([0.5, 0.7, 1.0, 1.0], dtype=torch.float64))
    img = MetaTensor(torch.as_tensor(DARK_8BIT), affine=affine, meta={"filename_or_obj": "lesion.jpg"})
    out = ToUnitRange()(img)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "lesion.jpg"
    torch.testing.assert_close(out.affine, affine)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_dictionary_version_scales_each_key_on_its_own_values(to_type):
    data = {"image": to_type(DARK_8BIT), "ct": to_type(HU), "label": 3}
    out = ToUnitRanged(keys=["image", "ct", "missing"], allow_missing_keys=True)(data)
    np.testing.assert_allclose(to_numpy(out["image"]), DARK_8BIT / 255.0, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(out["ct"]), (HU + 1000.0) / 2000.0, rtol=1e-6)
    assert out["label"] == 3 and "missing" not in out and data["image"] is not out["image"]
    with pytest.raises(KeyError):
        ToUnitRanged(keys="missing")(data)
