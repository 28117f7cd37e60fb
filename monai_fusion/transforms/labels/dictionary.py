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
"""Dictionary version of :class:`monai_fusion.transforms.labels.array.SelectLabels`.

Written for this project following MONAI's array/dictionary transform conventions; no code copied.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from monai_fusion.transforms.labels.array import SelectLabels

__all__ = ["SelectLabelsd"]


class SelectLabelsd(MapTransform):
    """Dictionary version of :class:`SelectLabels`.

    Args:
        keys: keys of the label maps.
        labels: label values (or lists of values merged into one class), in output-class order.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        {"_target_": "monai_fusion.transforms.SelectLabelsd", "keys": "label", "labels": [1]}
    """

    backend = SelectLabels.backend

    def __init__(
        self, keys: KeysCollection, labels: Sequence[int | Sequence[int]], allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.selector = SelectLabels(labels)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.selector(d[key])
        return d
