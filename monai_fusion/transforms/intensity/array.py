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
"""Intensity scaling to [0, 1] with the 8-bit convention of torchvision's ``ToTensor``.

MONAI's ``ScaleIntensity`` always min-max scales each image, which stretches the contrast of a dark 8-bit photograph
(a dermoscopy image whose brightest pixel is 200 would end at 1.0); the networks' ImageNet-style normalisation
expects 8-bit data divided by 255 instead. :class:`ToUnitRange` does that, and falls back to min-max scaling for data
that is not 8-bit (CT in HU, 16-bit X-ray). Written for this project; no code copied.
"""

from __future__ import annotations

import torch
from monai.config import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Transform
from monai.utils import TransformBackends, convert_to_tensor

__all__ = ["ToUnitRange"]


class ToUnitRange(Transform):
    """Scale intensities to [0, 1].

    * Every value within ``[0, 255]`` (8-bit data, whatever its dtype): divided by 255, as torchvision's
      ``ToTensor`` does, so the image keeps its absolute brightness (a dark photograph stays dark).
    * Otherwise (negative values such as HU, or values above 255 such as 16-bit data): min-max scaled over the whole
      image, ``(x - min) / max(max - min, 1e-8)``; a constant image becomes all zeros.

    The test is on the values, not on the dtype: a float image already in [0, 1] also lies within [0, 255] and is
    divided by 255. Put this transform right after loading (and channel conversion), before resizing, so that it sees
    the file's own values.

    Input: any shape, e.g. channel-first ``(C, *spatial)``; output: the same shape, float32 (a ``MetaTensor`` keeps
    its metadata when metadata tracking is on).

    Example::

        ToUnitRange()(np.array([[[0, 51, 255]]], dtype=np.uint8))  # tensor([[[0.0, 0.2, 1.0]]])
        ToUnitRange()(np.array([[[-1000.0, 0.0, 1000.0]]]))  # tensor([[[0.0, 0.5, 1.0]]])
    """

    backend = [TransformBackends.TORCH]

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: image of any shape (numpy array, tensor or ``MetaTensor``).
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta()).float()
        if img_t.numel() == 0:
            raise ValueError(f"ToUnitRange: the image is empty (shape {tuple(img_t.shape)}).")
        lo, hi = float(img_t.min()), float(img_t.max())
        if lo >= 0.0 and hi <= 255.0:
            return img_t / 255.0
        return (img_t - lo) / max(hi - lo, 1e-8)
