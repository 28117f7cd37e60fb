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
"""Dictionary versions of the volume -> 2-D transforms in :mod:`monai_fusion.transforms.volume.array`.

Written for this project following MONAI's array/dictionary transform conventions; no code copied. With ``mask_key``
every key is sliced at the same index, chosen from the mask as it was when the transform started, so an image and its
label map stay aligned. Resample first with MONAI's ``Spacingd`` when cases differ in voxel size.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from monai_fusion.transforms.volume.array import AdjacentSliceChannels, AdjacentSlices, As2DImage, SelectSlice

__all__ = ["SelectSliced", "AdjacentSlicesd", "AdjacentSliceChannelsd", "As2DImaged"]


def _check_index_or_mask(owner: str, index: int | None, mask_key: str | None) -> None:
    if (index is None) == (mask_key is None):
        raise ValueError(f"{owner}: give exactly one of index (a fixed slice) or mask_key (largest mask area).")


class SelectSliced(MapTransform):
    """Dictionary version of :class:`SelectSlice`.

    Args:
        keys: keys of the volumes to slice.
        axis: spatial axis to slice along.
        index: fixed slice index; or None with ``mask_key``.
        mask_key: key of the mask whose largest-area slice is taken (it may also be in ``keys``).
        labels: with ``mask_key``, the label values counted as foreground; None counts every non-zero value.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        SelectSliced(keys=("image", "label"), axis=2, mask_key="label")
    """

    backend = SelectSlice.backend

    def __init__(
        self,
        keys: KeysCollection,
        axis: int = 2,
        index: int | None = None,
        mask_key: str | None = None,
        labels: Sequence[int] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        _check_index_or_mask("SelectSliced", index, mask_key)
        self.mask_key = mask_key
        self.selector = SelectSlice(axis=axis, index=index, labels=labels)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        mask = None if self.mask_key is None else d[self.mask_key]
        for key in self.key_iterator(d):
            d[key] = self.selector(d[key], mask=mask)
        return d


class AdjacentSlicesd(MapTransform):
    """Dictionary version of :class:`AdjacentSlices`.

    Args:
        keys: keys of the volumes to turn into 2.5-D stacks.
        num_slices: odd number of adjacent slices stacked as channels.
        axis: spatial axis to slice along.
        index: fixed centre slice; or None with ``mask_key``.
        mask_key: key of the mask whose largest-area slice is the centre.
        labels: with ``mask_key``, the label values counted as foreground; None counts every non-zero value.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        # image -> (3, H, W) stack around the largest-label slice; label -> that single slice
        Compose([
            AdjacentSlicesd(keys="image", num_slices=3, mask_key="label"),
            SelectSliced(keys="label", mask_key="label"),
        ])
    """

    backend = AdjacentSlices.backend

    def __init__(
        self,
        keys: KeysCollection,
        num_slices: int = 3,
        axis: int = 2,
        index: int | None = None,
        mask_key: str | None = None,
        labels: Sequence[int] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        _check_index_or_mask("AdjacentSlicesd", index, mask_key)
        self.mask_key = mask_key
        self.stacker = AdjacentSlices(num_slices=num_slices, axis=axis, index=index, labels=labels)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        mask = None if self.mask_key is None else d[self.mask_key]
        for key in self.key_iterator(d):
            d[key] = self.stacker(d[key], mask=mask)
        return d


class AdjacentSliceChannelsd(MapTransform):
    """Dictionary version of :class:`AdjacentSliceChannels`.

    Args:
        keys: keys of the volumes whose neighbouring slices become channels (the image, never the label map).
        num_slices: odd number of slices stacked.
        axis: spatial axis along which the neighbours are taken.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        {"_target_": "monai_fusion.transforms.AdjacentSliceChannelsd", "keys": "image", "num_slices": 3}
    """

    backend = AdjacentSliceChannels.backend

    def __init__(
        self, keys: KeysCollection, num_slices: int = 3, axis: int = 2, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.stacker = AdjacentSliceChannels(num_slices=num_slices, axis=axis)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.stacker(d[key])
        return d


class As2DImaged(MapTransform):
    """Dictionary version of :class:`As2DImage`: each key is made ``(C, H, W)`` on its own.

    Args:
        keys: keys of the images to make 2-D.
        allow_missing_keys: don't raise an exception if a key is missing.

    Example::

        {"_target_": "monai_fusion.transforms.As2DImaged", "keys": "image"}
    """

    backend = As2DImage.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = As2DImage()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
