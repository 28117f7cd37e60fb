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
"""StackRCMSlicesd on a paired multimodal datalist entry; a batch of cases collates to MFSF²-Net's (B, N, C, H, W).

No RCM data is public in ../shared/data, so the slices are small PNG stand-ins written to a temporary folder.
"""

from __future__ import annotations

import numpy as np
import pytest
from monai.data import list_data_collate
from monai.transforms import Compose, Resize
from PIL import Image

from monai_fusion.transforms.channels.array import EnsureRGB
from monai_fusion.transforms.channels.dictionary import EnsureRGBd
from monai_fusion.transforms.io import LoadMedicalImaged
from monai_fusion.transforms.rcm.dictionary import StackRCMSlicesd
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy

RNG = np.random.default_rng(0)


def _case(folder, name: str) -> dict:
    derm = folder / f"{name}_derm.jpg"
    Image.fromarray(RNG.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)).save(derm)
    rcm = []
    for i in range(4):
        path = folder / f"{name}_rcm{i}.png"
        Image.fromarray(RNG.integers(0, 256, size=(20 + i, 22), dtype=np.uint8), mode="L").save(path)
        rcm.append(path)
    return {"image": derm, "rcm": rcm, "label": 1}


def test_multimodal_entry_to_batch(tmp_path):
    pipeline = Compose(
        [
            LoadMedicalImaged(keys="image", ensure_channel_first=True),
            EnsureRGBd(keys="image"),
            StackRCMSlicesd(keys="rcm", num_slices=4, slice_transform=Compose([EnsureRGB(), Resize((24, 24))])),
        ]
    )
    batch = list_data_collate([pipeline(_case(tmp_path, "a")), pipeline(_case(tmp_path, "b"))])
    assert batch["image"].shape == (2, 3, 24, 24)
    assert batch["rcm"].shape == (2, 4, 3, 24, 24)  # MFSF2Encoder's rcm layout (B, N, C, H, W)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_arrays_in_a_dictionary(to_type):
    slices = [RNG.uniform(size=(1, 3, 4)).astype(np.float32) for _ in range(2)]
    out = StackRCMSlicesd(keys="rcm")({"rcm": [to_type(s) for s in slices], "label": 0})
    np.testing.assert_array_equal(to_numpy(out["rcm"]), np.stack(slices))
    assert out["label"] == 0


def test_mismatch_names_the_files(tmp_path):
    case = _case(tmp_path, "c")
    with pytest.raises(ValueError, match="c_rcm1.png"):
        StackRCMSlicesd(keys="rcm")(case)
