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
"""Hounsfield-unit windowing of CT images, single windows and several windows stacked as channels.

Written for this project following MONAI's array/dictionary transform conventions; no code copied. The linear mapping is
MONAI's ``ScaleIntensityRange`` with clipping.

Hounsfield units come from the readers, not from a transform here. MONAI's ``PydicomReader`` and ``ITKReader``
(GDCM) apply the DICOM *RescaleSlope*/*RescaleIntercept*, and ``NibabelReader`` applies the NIfTI
``scl_slope``/``scl_inter`` (nibabel's ``get_fdata``); tests/transforms/test_ct_array.py checks both on the real
series in ``../shared/data/ct_volumes``. PNG/JPEG CT slices (COVID-CT) hold display intensities, not HU: do not
window them.

Window convention: ``[level - width / 2, level + width / 2]`` maps linearly to [0, 1], values outside are clipped (the
usual deep-learning convention; DICOM's VOI LUT formula differs by half a grey level).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import ScaleIntensityRange, Transform
from monai.utils import TransformBackends, convert_to_tensor

from monai_fusion.transforms.channels.array import EnsureRGB
from monai_fusion.transforms.intensity.array import ToUnitRange

__all__ = ["HU_WINDOW_PRESETS", "HUWindow", "MultiWindowStack", "MultiWindowStackIfHU", "HU_FILE_SUFFIXES"]

#: file endings read as Hounsfield units by :class:`MultiWindowStackIfHU` (a DICOM series is a folder, also HU).
HU_FILE_SUFFIXES = (".nii", ".nii.gz", ".dcm", ".dicom")

#: Named CT windows as (width, level) in Hounsfield units.
HU_WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (1500.0, -600.0),
    "mediastinum": (350.0, 50.0),
    "abdomen": (400.0, 40.0),
    "bone": (1800.0, 400.0),
    "brain": (80.0, 40.0),
}


def _window_bounds(window: str, width: float | None, level: float | None) -> tuple[float, float]:
    """(lower, upper) HU bounds of a preset name or of ``window="custom"`` with ``width`` and ``level``."""
    if window == "custom":
        if width is None or level is None:
            raise ValueError("HUWindow: window='custom' needs both width and level (in HU), e.g. width=400, level=40.")
    elif window in HU_WINDOW_PRESETS:
        if width is not None or level is not None:
            raise ValueError(
                f"HUWindow: window={window!r} is a preset, so width and level must be None; "
                "use window='custom' to set them."
            )
        width, level = HU_WINDOW_PRESETS[window]
    else:
        raise ValueError(f"HUWindow: unknown window {window!r}; use one of {sorted(HU_WINDOW_PRESETS)} or 'custom'.")
    if width <= 0:
        raise ValueError(f"HUWindow: width must be > 0 HU, got {width}.")
    return level - width / 2.0, level + width / 2.0


class HUWindow(Transform):
    """Clip a CT image in Hounsfield units to a window and map it linearly to [0, 1].

    Presets (width, level): lung (1500, -600), mediastinum (350, 50), abdomen (400, 40), bone (1800, 400),
    brain (80, 40); ``window="custom"`` takes ``width`` and ``level``.

    Input ``(C, *spatial)`` in HU, output the same shape, float32 in [0, 1].

    Args:
        window: a preset name or ``"custom"``.
        width: window width in HU, only with ``window="custom"``.
        level: window centre in HU, only with ``window="custom"``.

    Example::

        HUWindow("lung")(ct)  # -1350 HU -> 0, 150 HU -> 1
        HUWindow("custom", width=600, level=100)(ct)
    """

    backend = ScaleIntensityRange.backend

    def __init__(self, window: str, width: float | None = None, level: float | None = None) -> None:
        self.window = window
        self.lower, self.upper = _window_bounds(window, width, level)
        self._scaler = ScaleIntensityRange(
            a_min=self.lower, a_max=self.upper, b_min=0.0, b_max=1.0, clip=True, dtype=np.float32
        )

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: CT image in HU, channel-first.
        """
        return self._scaler(img)


class MultiWindowStack(Transform):
    """Window a single-channel CT image several times and stack the results as channels.

    Three windows turn a 2-D slice into a 3-channel image for RGB backbones (e.g. lung / mediastinum / bone).

    Input ``(1, *spatial)`` in HU, output ``(len(windows), *spatial)`` float32 in [0, 1], channel ``i`` windowed
    with ``windows[i]``.

    Args:
        windows: each a preset name of :class:`HUWindow` or a ``(width, level)`` pair in HU.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, windows: Sequence[str | tuple[float, float]] = ("lung", "mediastinum", "bone")) -> None:
        if isinstance(windows, str) or len(windows) == 0:
            raise ValueError(
                f"MultiWindowStack: windows must be a non-empty sequence of preset names or (width, level) pairs, "
                f"got {windows!r}."
            )
        self.windows: list[HUWindow] = []
        for w in windows:
            if isinstance(w, str):
                self.windows.append(HUWindow(w))
            elif len(w) == 2:
                self.windows.append(HUWindow("custom", width=float(w[0]), level=float(w[1])))
            else:
                raise ValueError(f"MultiWindowStack: each window must be a preset name or (width, level), got {w!r}.")

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: single-channel CT image in HU, ``(1, *spatial)``.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        if img_t.shape[0] != 1:
            raise ValueError(
                f"MultiWindowStack expects a single-channel HU image (1, *spatial), got shape {tuple(img_t.shape)}."
            )
        return torch.cat([w(img_t) for w in self.windows], dim=0)


def _is_hu_source(img: torch.Tensor) -> bool:
    """Whether a loaded image came from a DICOM or NIfTI source (HU), judged by its ``filename_or_obj``."""
    name = img.meta.get("filename_or_obj") if isinstance(img, MetaTensor) else None
    if not name:
        return False
    name = str(name)
    if os.path.isdir(name):  # a DICOM series folder
        return True
    if name.lower().endswith(HU_FILE_SUFFIXES):
        return True
    try:
        with open(name, "rb") as f:  # DICOM files often have no suffix
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


class MultiWindowStackIfHU(Transform):
    """CT input of mixed sources: HU windows for DICOM / NIfTI, the picture as it is for PNG / JPEG slices.

    Rule (stated, by source file): an image whose ``filename_or_obj`` is a NIfTI or DICOM file (by suffix or by the
    DICOM preamble) or a folder (a DICOM series) holds Hounsfield units, so it goes through
    :class:`MultiWindowStack` (one channel per window, [0, 1]); anything else (PNG, JPEG ... as in COVID-CT, whose
    slices were windowed for display) is kept as it is: gray repeated to 3 channels, an alpha channel dropped, 8-bit
    values divided by 255 (16-bit by 65535), i.e. ``EnsureRGB`` then ``ToUnitRange``. With three windows both paths
    give 3 channels in [0, 1], so one 2-D RGB network takes both. A plain tensor (no metadata) is treated as display
    intensities.

    Input ``(1, *spatial)`` (HU) or ``(C, *spatial)`` (display), output ``(3, *spatial)`` float32 in [0, 1] when
    ``len(windows) == 3``.

    Args:
        windows: preset names or ``(width, level)`` pairs in HU, as in :class:`MultiWindowStack`.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, windows: Sequence[str | tuple[float, float]] = ("lung", "mediastinum", "bone")) -> None:
        self.stacker = MultiWindowStack(windows)
        self.to_rgb, self.to_unit = EnsureRGB(), ToUnitRange()

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: a channel-first image as loaded (``LoadImage(ensure_channel_first=True)``), with its metadata.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        if _is_hu_source(img_t):
            return self.stacker(img_t)
        return self.to_unit(self.to_rgb(img_t))
