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
"""HUWindowd and MultiWindowStackd, on synthetic HU and in a LoadMedicalImaged pipeline on the real NIfTI CT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Compose

from monai_fusion.transforms.ct.dictionary import HUWindowd, MultiWindowStackd
from monai_fusion.transforms.io import LoadMedicalImaged
from monai_fusion.transforms.volume.dictionary import SelectSliced
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

HU = np.array([[[-1000.0, -160.0, 40.0], [240.0, 400.0, 1300.0]]])  # (1, 2, 3)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_hu_windowd_only_touches_its_keys(to_type):
    data = {"image": to_type(HU), "other": to_type(HU)}
    out = HUWindowd(keys="image", window="abdomen")(data)
    expected = np.clip((HU - (40.0 - 200.0)) / 400.0, 0.0, 1.0)  # abdomen: W400, L40
    np.testing.assert_allclose(to_numpy(out["image"]), expected, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(out["other"]), HU)
    assert data["image"] is not out["image"]  # the input dictionary is not modified


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_multi_window_stackd(to_type):
    out = MultiWindowStackd(keys="image", windows=("brain", (1800.0, 400.0)))({"image": to_type(HU)})["image"]
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2, 3)
    np.testing.assert_allclose(to_numpy(out[0]), np.clip((HU[0] - 0.0) / 80.0, 0, 1), atol=1e-6)
    np.testing.assert_allclose(to_numpy(out[1]), np.clip((HU[0] + 500.0) / 1800.0, 0, 1), atol=1e-6)


def test_missing_key_handling():
    with pytest.raises(KeyError):
        HUWindowd(keys="image", window="lung")({"label": HU})
    assert "image" not in HUWindowd(keys="image", window="lung", allow_missing_keys=True)({"label": HU})


@pytest.mark.data
def test_three_window_input_from_the_real_nifti():
    data = {
        "image": require_data("ct_volumes", "example_ct_sm.nii.gz"),
        "label": require_data("ct_volumes", "example_seg.nii.gz"),
    }
    pipeline = Compose(
        [
            LoadMedicalImaged(keys=("image", "label"), ensure_channel_first=True),
            SelectSliced(keys=("image", "label"), axis=2, mask_key="label"),
            MultiWindowStackd(keys="image", windows=("lung", "mediastinum", "bone")),
        ]
    )
    out = pipeline(data)
    assert out["image"].shape == (3, 122, 101) and out["label"].shape == (1, 122, 101)
    assert 0.0 <= float(out["image"].min()) and float(out["image"].max()) <= 1.0
    # lung (-1350..150 HU) maps every HU value at least as high as mediastinum (-125..225 HU), and they differ
    assert bool((out["image"][0] >= out["image"][1] - 1e-6).all())
    assert not torch.equal(out["image"][0], out["image"][1])
    assert out["image"].meta["slice_index"] == out["label"].meta["slice_index"]
