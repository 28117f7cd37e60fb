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
"""EnsureRGBd, EnsureGrayscaled and BinarizeMaskd, and a load -> binarise pipeline on a real Kvasir-SEG pair."""

from __future__ import annotations

import numpy as np
import pytest
from monai.transforms import Compose
from PIL import Image

from monai_fusion.transforms.channels.dictionary import BinarizeMaskd, EnsureGrayscaled, EnsureRGBd
from monai_fusion.transforms.io import LoadMedicalImaged
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

IMG = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3) * 10.0


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_dictionary_versions(to_type):
    data = {"rgba": to_type(IMG), "gray": to_type(IMG[:1]), "mask": to_type(IMG)}
    out = Compose(
        [
            EnsureRGBd(keys=("rgba", "gray")),
            EnsureGrayscaled(keys="rgba", weights=(1.0, 0.0, 0.0)),
            BinarizeMaskd(keys="mask", threshold=100.0, channel=3),
        ]
    )(data)
    np.testing.assert_array_equal(to_numpy(out["rgba"]), IMG[:1])
    np.testing.assert_array_equal(to_numpy(out["gray"]), np.repeat(IMG[:1], 3, axis=0))
    np.testing.assert_array_equal(to_numpy(out["mask"]), (IMG[3:4] >= 100.0).astype(np.float32))


@pytest.mark.data
def test_kvasir_pair_pipeline():
    image = sorted(require_data("kvasir_seg", "images").glob("*.jpg"))[1]
    mask = require_data("kvasir_seg", "masks", image.name)
    out = Compose(
        [
            LoadMedicalImaged(keys=("image", "label"), ensure_channel_first=True),
            EnsureRGBd(keys="image"),
            BinarizeMaskd(keys="label", threshold=128),
        ]
    )({"image": image, "label": mask})
    assert out["image"].shape == (3, 256, 256) and out["label"].shape == (1, 256, 256)
    expected = (np.asarray(Image.open(mask))[..., 0] >= 128).T
    np.testing.assert_array_equal(to_numpy(out["label"])[0], expected)
