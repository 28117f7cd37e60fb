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
"""Dictionary versions of the colour transforms in :mod:`monai_fusion.transforms.color.array`.

Written for this project following MONAI's array/dictionary transform conventions; no code copied. MONAI's own
``NormalizeHEStainsd`` wraps the channel-last ``NormalizeHEStains``; :class:`MacenkoNormalized` is the channel-first
equivalent.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform

from monai_fusion.transforms.color.array import MacenkoNormalize, ShadesOfGray

__all__ = ["ShadesOfGrayd", "MacenkoNormalized"]


class ShadesOfGrayd(MapTransform):
    """Dictionary version of :class:`ShadesOfGray`.

    Args:
        keys: keys of the colour images.
        p: Minkowski norm order (>= 1 or ``math.inf``).
        max_value: upper clipping bound; None keeps the unclipped values.
        eps: lower bound on the per-channel illuminant estimate.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = ShadesOfGray.backend

    def __init__(
        self,
        keys: KeysCollection,
        p: float = 6.0,
        max_value: float | None = 255.0,
        eps: float = 1e-6,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.corrector = ShadesOfGray(p=p, max_value=max_value, eps=eps)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.corrector(d[key])
        return d


class MacenkoNormalized(MapTransform):
    """Dictionary version of :class:`MacenkoNormalize`.

    Args:
        keys: keys of the channel-first RGB images, values in [0, 255].
        tli: transmitted light intensity.
        alpha: percentile tolerance of the extreme stain angles.
        beta: absorbance threshold of transparent (background) pixels.
        target_he: target stain matrix (rows R, G, B; columns H, E).
        max_cref: reference maximum stain concentrations of H and E.
        allow_missing_keys: don't raise an exception if a key is missing.
    """

    backend = MacenkoNormalize.backend

    def __init__(
        self,
        keys: KeysCollection,
        tli: float = 240,
        alpha: float = 1,
        beta: float = 0.15,
        target_he: tuple | np.ndarray = ((0.5626, 0.2159), (0.7201, 0.8012), (0.4062, 0.5581)),
        max_cref: tuple | np.ndarray = (1.9705, 1.0308),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalizer = MacenkoNormalize(tli=tli, alpha=alpha, beta=beta, target_he=target_he, max_cref=max_cref)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key])
        return d
