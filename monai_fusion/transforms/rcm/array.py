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
"""Reflectance confocal microscopy (RCM): stack the N slices of one case for MFSF²-Net's ``rcm`` input.

Written for this project following MONAI's array/dictionary transform conventions and the layout of MFSF2-Net's ``rcm``
input (:class:`monai_fusion.networks.nets.MFSF2Net`: (B, N, C, H, W), N = 4 in the paper's data); no code copied.

The per-slice intensity steps are MONAI transforms, used as they are:

- per-image percentile normalisation: ``ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=0, b_max=1,
  clip=True)`` does exactly this on one slice (``channel_wise=True`` normalises each slice of an already stacked
  ``(N, C, H, W)`` tensor separately, since it iterates over the first dimension);
- optional speckle suppression: ``MedianSmooth(radius=1)`` (a 3x3 median per channel).

Give them to :class:`StackRCMSlices` as ``slice_transform`` so they run on each slice before stacking::

    StackRCMSlicesd(
        keys="rcm",
        num_slices=4,
        slice_transform=Compose([
            EnsureRGB(),
            MedianSmooth(radius=1),
            ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=0.0, b_max=1.0, clip=True),
            Resize((224, 224)),
        ]),
    )
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
from monai.config import NdarrayOrTensor, PathLike
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Transform
from monai.utils import TransformBackends, convert_to_tensor

from monai_fusion.transforms.io import LoadMedicalImage

__all__ = ["StackRCMSlices"]


class StackRCMSlices(Transform):
    """Stack the N RCM slice images of one case into an ``(N, C, H, W)`` tensor.

    Each slice is a file name (loaded with :class:`~monai_fusion.transforms.io.LoadMedicalImage`, channel first) or
    a channel-first ``(C, H, W)`` array. ``slice_transform`` (e.g. channel conversion, normalisation, resizing) runs
    on each slice before the shapes are compared. Slices whose shapes differ raise a ``ValueError`` that names every
    file and its shape. The output ``MetaTensor`` keeps the first slice's file name, as ``LoadImage`` does for a list
    of files.

    Input: a sequence of N slices. Output ``(N, C, H, W)``; a batch of them is MFSF²-Net's ``rcm`` (B, N, C, H, W).

    Args:
        num_slices: expected N; None accepts any N >= 1.
        slice_transform: callable applied to each slice before stacking; None stacks them as loaded.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, num_slices: int | None = None, slice_transform: Callable | None = None) -> None:
        if num_slices is not None and num_slices < 1:
            raise ValueError(f"StackRCMSlices: num_slices must be None or >= 1, got {num_slices}.")
        self.num_slices = num_slices
        self.slice_transform = slice_transform
        self._loader: LoadMedicalImage | None = None  # built on the first file name

    def _load(self, path: PathLike) -> torch.Tensor:
        if self._loader is None:
            self._loader = LoadMedicalImage(image_only=True, ensure_channel_first=True)
        return self._loader(path)

    def __call__(self, slices: Sequence[NdarrayOrTensor | PathLike]) -> torch.Tensor:
        """
        Args:
            slices: the N slices of one case, as file names or channel-first ``(C, H, W)`` arrays.
        """
        if isinstance(slices, (str, os.PathLike)) or len(slices) == 0:
            raise ValueError(f"StackRCMSlices expects a non-empty sequence of slices, got {slices!r}.")
        if self.num_slices is not None and len(slices) != self.num_slices:
            listed = [str(s) if isinstance(s, (str, os.PathLike)) else f"slice {i}" for i, s in enumerate(slices)]
            raise ValueError(f"StackRCMSlices: expected {self.num_slices} slices per case, got {len(slices)}: {listed}")
        names: list[str] = []
        images: list[torch.Tensor] = []
        for i, item in enumerate(slices):
            if isinstance(item, (str, os.PathLike)):
                name, img = str(item), self._load(item)
            else:
                img = convert_to_tensor(item, track_meta=get_track_meta())
                meta_name = img.meta.get("filename_or_obj") if isinstance(img, MetaTensor) else None
                name = str(meta_name) if meta_name else f"slice {i}"
            if self.slice_transform is not None:
                img = self.slice_transform(img)
            img = convert_to_tensor(img, track_meta=False)
            if img.ndim != 3:
                raise ValueError(f"StackRCMSlices: {name} must be channel-first (C, H, W), got {tuple(img.shape)}.")
            names.append(name)
            images.append(img)
        by_shape: dict[tuple[int, ...], list[str]] = {}
        for name, img in zip(names, images):
            by_shape.setdefault(tuple(img.shape), []).append(name)
        if len(by_shape) > 1:
            detail = "; ".join(f"{list(shape)}: {', '.join(files)}" for shape, files in by_shape.items())
            raise ValueError(
                f"StackRCMSlices: the slices of one case must share one (C, H, W) shape, got {detail}. "
                "Resize them in slice_transform (e.g. Resize((H, W))) or fix the files."
            )
        out = torch.stack(images)
        if get_track_meta():
            return MetaTensor(out, meta={"filename_or_obj": names[0]})
        return out
