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
"""ShadesOfGrayd and MacenkoNormalized give the array results; a load -> colour constancy pipeline on HAM10000."""

from __future__ import annotations

import numpy as np
import pytest
from monai.transforms import Compose

from monai_fusion.transforms.color.array import MacenkoNormalize, ShadesOfGray
from monai_fusion.transforms.color.dictionary import MacenkoNormalized, ShadesOfGrayd
from monai_fusion.transforms.io import LoadMedicalImaged
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

RNG = np.random.default_rng(1)
IMG = RNG.uniform(20, 230, size=(3, 12, 10)).astype(np.float32)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_dictionary_versions_match_the_array_versions(to_type):
    data = {"image": to_type(IMG), "he": to_type(IMG)}
    out = Compose([ShadesOfGrayd(keys="image", p=4.0), MacenkoNormalized(keys="he", beta=0.05)])(data)
    np.testing.assert_allclose(to_numpy(out["image"]), to_numpy(ShadesOfGray(p=4.0)(IMG)), rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(out["he"]), to_numpy(MacenkoNormalize(beta=0.05)(IMG)))


@pytest.mark.data
def test_ham10000_pipeline():
    path = require_data("ham10000", "images", "ISIC_0024307.jpg")
    out = Compose([LoadMedicalImaged(keys="image", ensure_channel_first=True), ShadesOfGrayd(keys="image")])(
        {"image": path}
    )
    img = out["image"]
    assert img.shape == (3, 200, 150) and 0.0 <= float(img.min()) and float(img.max()) <= 255.0
    assert str(img.meta["filename_or_obj"]).endswith("ISIC_0024307.jpg")
