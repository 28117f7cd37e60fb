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
"""Dictionary version of :class:`monai_fusion.transforms.rcm.array.StackRCMSlices`.

Written for this project following MONAI's array/dictionary transform conventions; no code copied. A paired multimodal
datalist entry looks like ``{"image": "derm.jpg", "rcm": ["r1.png", "r2.png", "r3.png", "r4.png"], "label": 3}``;
``StackRCMSlicesd(keys="rcm", num_slices=4)`` turns the ``rcm`` list into ``(4, C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

from monai.config import KeysCollection
from monai.transforms import MapTransform

from monai_fusion.transforms.rcm.array import StackRCMSlices

__all__ = ["StackRCMSlicesd"]


class StackRCMSlicesd(MapTransform):
    """Dictionary version of :class:`StackRCMSlices`.

    Args:
        keys: keys whose value is the list of N slices (file names or channel-first arrays) of one case.
        num_slices: expected N; None accepts any N >= 1.
        slice_transform: callable applied to each slice before stacking.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = StackRCMSlices.backend

    def __init__(
        self,
        keys: KeysCollection,
        num_slices: int | None = None,
        slice_transform: Callable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.stacker = StackRCMSlices(num_slices=num_slices, slice_transform=slice_transform)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.stacker(d[key])
        return d
