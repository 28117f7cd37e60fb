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
"""Dictionary versions of the CT windowing transforms in :mod:`monai_fusion.transforms.ct.array`.

Written for this project following MONAI's array/dictionary transform conventions; no code copied.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from monai_fusion.transforms.ct.array import HUWindow, MultiWindowStack, MultiWindowStackIfHU

__all__ = ["HUWindowd", "MultiWindowStackd", "MultiWindowStackIfHUd"]


class HUWindowd(MapTransform):
    """Dictionary version of :class:`HUWindow`.

    Args:
        keys: keys of the CT images (in HU) to window.
        window: a preset name (lung, mediastinum, abdomen, bone, brain) or ``"custom"``.
        width: window width in HU, only with ``window="custom"``.
        level: window centre in HU, only with ``window="custom"``.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = HUWindow.backend

    def __init__(
        self,
        keys: KeysCollection,
        window: str,
        width: float | None = None,
        level: float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.windower = HUWindow(window, width=width, level=level)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.windower(d[key])
        return d


class MultiWindowStackd(MapTransform):
    """Dictionary version of :class:`MultiWindowStack`.

    Args:
        keys: keys of the single-channel CT images (in HU).
        windows: each a preset name or a ``(width, level)`` pair in HU; one output channel per window.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = MultiWindowStack.backend

    def __init__(
        self,
        keys: KeysCollection,
        windows: Sequence[str | tuple[float, float]] = ("lung", "mediastinum", "bone"),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.stacker = MultiWindowStack(windows=windows)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.stacker(d[key])
        return d


class MultiWindowStackIfHUd(MapTransform):
    """Dictionary version of :class:`MultiWindowStackIfHU`: HU windows for DICOM / NIfTI, PNG / JPEG as they are.

    Args:
        keys: keys of the loaded images (with their metadata, ``image_only=True`` MetaTensors).
        windows: each a preset name or a ``(width, level)`` pair in HU.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = MultiWindowStackIfHU.backend

    def __init__(
        self,
        keys: KeysCollection,
        windows: Sequence[str | tuple[float, float]] = ("lung", "mediastinum", "bone"),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = MultiWindowStackIfHU(windows=windows)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
