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
"""Dictionary versions of the channel-layout transforms in :mod:`monai_fusion.transforms.channels.array`.

Written for this project following MONAI's array/dictionary transform conventions; no code copied.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from monai_fusion.transforms.channels.array import BinarizeMask, EnsureGrayscale, EnsureRGB

__all__ = ["EnsureRGBd", "EnsureGrayscaled", "BinarizeMaskd"]


class EnsureRGBd(MapTransform):
    """Dictionary version of :class:`EnsureRGB`.

    Args:
        keys: keys of the items to convert.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = EnsureRGB.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = EnsureRGB()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


class EnsureGrayscaled(MapTransform):
    """Dictionary version of :class:`EnsureGrayscale`.

    Args:
        keys: keys of the items to convert.
        weights: weights of R, G and B (non-negative, summing to 1).
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = EnsureGrayscale.backend

    def __init__(
        self,
        keys: KeysCollection,
        weights: Sequence[float] = (0.299, 0.587, 0.114),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = EnsureGrayscale(weights=weights)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


class BinarizeMaskd(MapTransform):
    """Dictionary version of :class:`BinarizeMask`.

    Args:
        keys: keys of the masks to binarise.
        threshold: values at or above it are foreground (128 means "> 127" on 8-bit masks).
        channel: the channel to keep.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = BinarizeMask.backend

    def __init__(
        self, keys: KeysCollection, threshold: float = 128.0, channel: int = 0, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.binarizer = BinarizeMask(threshold=threshold, channel=channel)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.binarizer(d[key])
        return d
