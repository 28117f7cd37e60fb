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
"""Channel-layout transforms: grayscale <-> RGB, alpha removal and binarisation of lossy masks.

Written for this project following MONAI's array/dictionary transform conventions; no code copied. MONAI's
``RepeatChannel`` and ``AsDiscrete`` do the arithmetic.

Inputs are channel-first, ``(C, *spatial)``, as ``LoadImage(ensure_channel_first=True)`` or ``EnsureChannelFirst``
produce them. ``PILReader`` returns a palette (mode ``"P"``) PNG as its palette *indices*, which are not intensities
(348 of the HAM10000 masks are such PNGs, with an inverted palette). These transforms refuse a ``MetaTensor`` whose
metadata says ``mode == "P"``; load such files with :class:`monai_fusion.transforms.io.LoadMedicalImage`, which
decodes the palette.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.config import NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import AsDiscrete, RepeatChannel, Transform
from monai.utils import TransformBackends, convert_to_tensor

__all__ = ["EnsureRGB", "EnsureGrayscale", "BinarizeMask"]

_PALETTE_MODES = ("P", "PA")


def _reject_palette_indices(img: NdarrayOrTensor, owner: str) -> None:
    """Raise when ``img`` carries PIL palette indices instead of intensities (known from its metadata)."""
    if isinstance(img, MetaTensor) and img.meta.get("mode") in _PALETTE_MODES:
        name = img.meta.get("filename_or_obj", "the image")
        raise ValueError(
            f"{owner}: {name} was read as a palette PNG (mode {img.meta['mode']!r}), so its values are palette "
            "indices, not intensities. Load it with monai_fusion.transforms.io.LoadMedicalImage(d), which decodes "
            "the palette."
        )


class EnsureRGB(Transform):
    """Make a channel-first image 3-channel RGB.

    ``C == 1`` (grayscale) is repeated three times; ``C == 2`` (grayscale + alpha) keeps channel 0 and repeats it;
    ``C == 3`` is returned unchanged; ``C == 4`` (RGBA) drops the alpha channel (no compositing). Values are kept
    as they are, so 16-bit images stay in [0, 65535].

    Input ``(C, *spatial)``, output ``(3, *spatial)``; a torch tensor, or a ``MetaTensor`` when tracking metadata.
    """

    backend = [TransformBackends.TORCH]

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first image with 1, 2, 3 or 4 channels.
        """
        _reject_palette_indices(img, "EnsureRGB")
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        channels = img_t.shape[0]
        if channels not in (1, 2, 3, 4):
            raise ValueError(
                f"EnsureRGB expects a channel-first image with 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) channels, got shape "
                f"{tuple(img_t.shape)}; add a channel dimension first (EnsureChannelFirst)."
            )
        if channels in (1, 2):
            return RepeatChannel(repeats=3)(img_t[:1])
        return img_t[:3]


class EnsureGrayscale(Transform):
    """Make a channel-first image single-channel.

    ``C == 1`` is returned unchanged; ``C == 2`` (grayscale + alpha) keeps channel 0; ``C == 3`` (RGB) and
    ``C == 4`` (RGBA, alpha dropped) become the weighted sum of R, G and B (ITU-R BT.601 luma by default, the
    weights PIL uses for mode ``"L"``), as float32.

    Input ``(C, *spatial)``, output ``(1, *spatial)``.

    Args:
        weights: weights of R, G and B; they must be non-negative and sum to 1 so the intensity range is kept.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, weights: Sequence[float] = (0.299, 0.587, 0.114)) -> None:
        if len(weights) != 3 or any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(
                f"EnsureGrayscale: weights must be three non-negative numbers (R, G, B) summing to 1, got {weights}."
            )
        self.weights = tuple(float(w) for w in weights)

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first image with 1, 2, 3 or 4 channels.
        """
        _reject_palette_indices(img, "EnsureGrayscale")
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        channels = img_t.shape[0]
        if channels not in (1, 2, 3, 4):
            raise ValueError(
                f"EnsureGrayscale expects a channel-first image with 1, 2, 3 or 4 channels, got shape "
                f"{tuple(img_t.shape)}; add a channel dimension first (EnsureChannelFirst)."
            )
        if channels <= 2:
            return img_t[:1]
        rgb = img_t[:3].float()
        return rgb[0:1] * self.weights[0] + rgb[1:2] * self.weights[1] + rgb[2:3] * self.weights[2]


class BinarizeMask(Transform):
    """Binarise a mask saved with lossy compression or interpolation: take one channel, threshold it.

    JPEG masks (Kvasir-SEG: 3-channel JPEG) and resized PNG masks (HAM10000) hold values between 0 and 255 near
    the lesion border. Foreground is ``value >= threshold`` (MONAI ``AsDiscrete`` convention), so the default
    ``threshold=128`` means "> 127" on 8-bit masks.

    Input ``(C, *spatial)``, output ``(1, *spatial)`` float32 with values in {0, 1}.

    Args:
        threshold: values at or above it are foreground.
        channel: the channel to keep (all channels of a grayscale mask saved as RGB are equal up to JPEG noise).
    """

    backend = AsDiscrete.backend

    def __init__(self, threshold: float = 128.0, channel: int = 0) -> None:
        if channel < 0:
            raise ValueError(f"BinarizeMask: channel must be >= 0, got {channel}.")
        self.channel = channel
        self.threshold = float(threshold)
        self._discretize = AsDiscrete(threshold=self.threshold)

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first mask ``(C, *spatial)`` with ``C > channel``.
        """
        _reject_palette_indices(img, "BinarizeMask")
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        if img_t.ndim < 2 or img_t.shape[0] <= self.channel:
            raise ValueError(
                f"BinarizeMask: channel={self.channel} does not exist in a mask of shape {tuple(img_t.shape)} "
                "(expected channel-first (C, *spatial))."
            )
        return self._discretize(img_t[self.channel : self.channel + 1])
