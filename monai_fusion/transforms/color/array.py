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
"""Colour normalisation: Shades-of-Gray colour constancy (dermoscopy) and Macenko H&E stain normalisation.

Shades of Gray: G. D. Finlayson and E. Trezzi, "Shades of Gray and Colour Constancy", IS&T/SID 12th Color Imaging
Conference, 2004, pp. 37-41; used for dermoscopy by C. Barata et al., "Improving dermoscopy image classification using
color constancy", IEEE JBHI 19(3), 2015. Re-implemented from the papers' formula; no code copied.

Macenko: M. Macenko et al., "A method for normalizing histology slides for quantitative analysis", ISBI 2009. The
stain estimation and normalisation are MONAI's maintained ``monai.apps.pathology.transforms.NormalizeHEStains``; only
the layout handling is added here (see :class:`MacenkoNormalize`).

Inputs are channel-first RGB, ``(3, H, W)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.apps.pathology.transforms.stain.array import NormalizeHEStains
from monai.config import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, convert_to_tensor

__all__ = ["ShadesOfGray", "MacenkoNormalize"]


class ShadesOfGray(Transform):
    """Shades-of-Gray colour constancy (Finlayson & Trezzi 2004).

    The illuminant of each channel is the Minkowski p-norm mean of its pixels, ``e_c = (mean(I_c ** p)) ** (1 / p)``
    (``p = 1``: gray world; ``p = inf``: max-RGB / white patch). Each channel is scaled by
    ``||e||_2 / (sqrt(C) * e_c)`` (von Kries), which makes the estimated illuminant neutral while keeping its norm,
    then clipped to ``[0, max_value]``.

    Input ``(C, *spatial)`` with non-negative values (``C`` is 3 for RGB), output the same shape, float32.

    Args:
        p: Minkowski norm order, >= 1 or ``math.inf``; 6 is the value Finlayson & Trezzi and Barata et al. found best.
        max_value: upper clipping bound (255 for 8-bit images as ``LoadImage`` returns them, 1 for [0, 1] images);
            None keeps the unclipped values.
        eps: lower bound on each ``e_c``, so a black channel does not divide by zero.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, p: float = 6.0, max_value: float | None = 255.0, eps: float = 1e-6) -> None:
        if not (p >= 1.0):
            raise ValueError(f"ShadesOfGray: p must be >= 1 (or math.inf), got {p}.")
        if max_value is not None and max_value <= 0:
            raise ValueError(f"ShadesOfGray: max_value must be > 0 or None, got {max_value}.")
        self.p = float(p)
        self.max_value = max_value
        self.eps = eps

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first colour image with non-negative values.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        if img_t.ndim < 2 or img_t.shape[0] < 2:
            raise ValueError(f"ShadesOfGray expects a channel-first colour image (C >= 2), got {tuple(img_t.shape)}.")
        x = convert_to_tensor(img_t, track_meta=False).to(torch.float64)
        flat = x.reshape(x.shape[0], -1)
        if math.isinf(self.p):
            illum = flat.amax(dim=1)
        else:
            illum = flat.clamp_min(0).pow(self.p).mean(dim=1).pow(1.0 / self.p)
        illum = illum.clamp_min(self.eps)
        gain = illum.norm() / (math.sqrt(x.shape[0]) * illum)
        out = x * gain.reshape(-1, *([1] * (x.ndim - 1)))
        if self.max_value is not None:
            out = out.clamp(0.0, self.max_value)
        return convert_to_dst_type(out, dst=img_t, dtype=torch.float32)[0]


class MacenkoNormalize(Transform):
    """Macenko H&E stain normalisation through MONAI's ``NormalizeHEStains``, for channel-first inputs.

    Why a wrapper instead of a new implementation: MONAI's ``NormalizeHEStains`` is maintained and tested, but it
    accepts only a channel-last ``(H, W, 3)`` uint8 numpy array and returns one. Given a channel-first array it
    silently reshapes it as if it were channel-last and returns a garbled image. This class converts a channel-first
    numpy array, tensor or ``MetaTensor`` with values in [0, 255] to that layout (rounded to uint8), calls MONAI, and
    converts back (metadata kept).

    Input ``(3, H, W)`` in [0, 255], output ``(3, H, W)`` float32 with integer values in [0, 255].

    Args:
        tli: transmitted light intensity.
        alpha: percentile tolerance of the extreme stain angles.
        beta: absorbance threshold of transparent (background) pixels.
        target_he: target stain matrix (rows R, G, B; columns H, E).
        max_cref: reference maximum stain concentrations of H and E.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        tli: float = 240,
        alpha: float = 1,
        beta: float = 0.15,
        target_he: tuple | np.ndarray = ((0.5626, 0.2159), (0.7201, 0.8012), (0.4062, 0.5581)),
        max_cref: tuple | np.ndarray = (1.9705, 1.0308),
    ) -> None:
        self.normalizer = NormalizeHEStains(tli=tli, alpha=alpha, beta=beta, target_he=target_he, max_cref=max_cref)

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first RGB image, values in [0, 255].
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        if img_t.ndim != 3 or img_t.shape[0] != 3:
            raise ValueError(f"MacenkoNormalize expects a channel-first RGB image (3, H, W), got {tuple(img_t.shape)}.")
        hwc = np.ascontiguousarray(np.moveaxis(convert_to_numpy(img_t), 0, -1))
        if hwc.min() < 0 or hwc.max() > 255:
            raise ValueError("MacenkoNormalize expects values in [0, 255]; rescale the image first.")
        out = self.normalizer(np.rint(hwc).astype(np.uint8))
        chw = np.ascontiguousarray(np.moveaxis(out, -1, 0))
        return convert_to_dst_type(chw, dst=img_t, dtype=torch.float32)[0]
