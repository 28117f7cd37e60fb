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
"""SelectSliced and AdjacentSlicesd: image and label sliced together; a Spacingd pipeline on the real NIfTI CT."""

from __future__ import annotations

import numpy as np
import pytest
from monai.transforms import Compose, Spacingd

from monai_fusion.transforms.io import LoadMedicalImaged
from monai_fusion.transforms.volume.dictionary import AdjacentSlicesd, SelectSliced
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

VOL = np.arange(1 * 3 * 4 * 5, dtype=np.float32).reshape(1, 3, 4, 5)
LABEL = np.zeros((1, 3, 4, 5), dtype=np.float32)
LABEL[0, :, :3, 3] = 1  # 9 voxels at z = 3
LABEL[0, :2, :, 1] = 1  # 8 voxels at z = 1


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_select_sliced_uses_one_index_for_every_key(to_type):
    out = SelectSliced(keys=("image", "label"), axis=2, mask_key="label")({"image": to_type(VOL), "label": LABEL})
    np.testing.assert_array_equal(to_numpy(out["image"]), VOL[..., 3])
    np.testing.assert_array_equal(to_numpy(out["label"]), LABEL[..., 3])


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_adjacent_slicesd_then_select_sliced(to_type):
    pipeline = Compose(
        [
            AdjacentSlicesd(keys="image", num_slices=3, axis=2, mask_key="label"),
            SelectSliced(keys="label", axis=2, mask_key="label"),
        ]
    )
    out = pipeline({"image": to_type(VOL), "label": to_type(LABEL)})
    np.testing.assert_array_equal(to_numpy(out["image"]), np.stack([VOL[0, ..., z] for z in (2, 3, 4)]))
    np.testing.assert_array_equal(to_numpy(out["label"]), LABEL[..., 3])


def test_fixed_index_and_argument_checks():
    out = SelectSliced(keys="image", axis=0, index=-1)({"image": VOL})
    np.testing.assert_array_equal(to_numpy(out["image"]), VOL[:, -1])
    with pytest.raises(ValueError, match="exactly one of index"):
        SelectSliced(keys="image")
    with pytest.raises(ValueError, match="exactly one of index"):
        AdjacentSlicesd(keys="image", index=1, mask_key="label")


@pytest.mark.data
def test_spacing_then_largest_label_slice_on_the_real_ct():
    data = {
        "image": require_data("ct_volumes", "example_ct_sm.nii.gz"),
        "label": require_data("ct_volumes", "example_seg.nii.gz"),
    }
    load = LoadMedicalImaged(keys=("image", "label"), ensure_channel_first=True)
    resample = Spacingd(keys=("image", "label"), pixdim=(6.0, 6.0, 6.0), mode=("bilinear", "nearest"))
    volume = resample(load(data))
    new_shape = np.array(volume["image"].shape[1:])
    np.testing.assert_allclose(new_shape * 6.0, np.array([122, 101, 30]) * 3.0, atol=6.0)  # same extent, 6 mm voxels
    np.testing.assert_allclose(volume["image"].pixdim, [6.0, 6.0, 6.0])
    labels = np.unique(to_numpy(volume["label"]))
    assert np.array_equal(labels, np.round(labels))  # nearest keeps the label values
    out = SelectSliced(keys=("image", "label"), axis=2, mask_key="label", labels=[5])(volume)
    liver = to_numpy(volume["label"])[0] == 5
    k = int(np.argmax(liver.sum(axis=(0, 1))))
    np.testing.assert_array_equal(to_numpy(out["image"]), to_numpy(volume["image"])[..., k])
    assert out["label"].shape == (1, *new_shape[:2]) and out["image"].meta["slice_index"] == k
