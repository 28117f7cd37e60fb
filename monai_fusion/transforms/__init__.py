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
"""Medical-image transforms: MONAI array + dictionary pairs for CT, volumes, RCM, colour, channels and intensity, and
loading.

Steps MONAI already has are used from MONAI, not re-implemented here: ``ScaleIntensityRangePercentiles`` (per-image
percentile normalisation), ``MedianSmooth`` (speckle suppression), ``Spacingd`` (spacing-aware resampling),
``RepeatChannel``, ``AsDiscrete``, ``ScaleIntensityRange`` and ``NormalizeHEStains`` (inside the classes below).
"""

from __future__ import annotations

from .channels.array import BinarizeMask, EnsureGrayscale, EnsureRGB
from .channels.dictionary import BinarizeMaskd, EnsureGrayscaled, EnsureRGBd
from .color.array import MacenkoNormalize, ShadesOfGray
from .color.dictionary import MacenkoNormalized, ShadesOfGrayd
from .ct.array import HU_WINDOW_PRESETS, HUWindow, MultiWindowStack, MultiWindowStackIfHU
from .ct.dictionary import HUWindowd, MultiWindowStackd, MultiWindowStackIfHUd
from .intensity.array import ToUnitRange
from .intensity.dictionary import ToUnitRanged
from .io import LoadMedicalImage, LoadMedicalImaged, check_dicom_decoder, standardize_pil_mode
from .labels.array import SelectLabels
from .labels.dictionary import SelectLabelsd
from .rcm.array import StackRCMSlices
from .rcm.dictionary import StackRCMSlicesd
from .volume.array import AdjacentSliceChannels, AdjacentSlices, As2DImage, SelectSlice
from .volume.dictionary import AdjacentSliceChannelsd, AdjacentSlicesd, As2DImaged, SelectSliced

__all__ = [
    "HU_WINDOW_PRESETS",
    "HUWindow",
    "HUWindowd",
    "MultiWindowStack",
    "MultiWindowStackd",
    "MultiWindowStackIfHU",
    "MultiWindowStackIfHUd",
    "SelectSlice",
    "SelectSliced",
    "AdjacentSlices",
    "AdjacentSlicesd",
    "AdjacentSliceChannels",
    "AdjacentSliceChannelsd",
    "As2DImage",
    "As2DImaged",
    "StackRCMSlices",
    "StackRCMSlicesd",
    "ShadesOfGray",
    "ShadesOfGrayd",
    "MacenkoNormalize",
    "MacenkoNormalized",
    "EnsureRGB",
    "EnsureRGBd",
    "EnsureGrayscale",
    "EnsureGrayscaled",
    "BinarizeMask",
    "BinarizeMaskd",
    "ToUnitRange",
    "ToUnitRanged",
    "SelectLabels",
    "SelectLabelsd",
    "LoadMedicalImage",
    "LoadMedicalImaged",
    "check_dicom_decoder",
    "standardize_pil_mode",
]
