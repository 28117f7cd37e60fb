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
"""Dictionary version of the intensity transform in :mod:`monai_fusion.transforms.intensity.array`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from monai_fusion.transforms.intensity.array import ToUnitRange

__all__ = ["ToUnitRanged"]


class ToUnitRanged(MapTransform):
    """Dictionary version of :class:`ToUnitRange`: each key is scaled on its own values.

    Args:
        keys: keys of the images to scale.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        {"_target_": "monai_fusion.transforms.ToUnitRanged", "keys": "image"}
    """

    backend = ToUnitRange.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = ToUnitRange()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler(d[key])
        return d
