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
"""Volume -> 2-D: one slice by index or by largest mask area, 2.5-D stacks of adjacent slices, and any input made 2-D.

Written for this project following MONAI's array/dictionary transform conventions; no code copied.

Spacing-aware resampling is MONAI's ``Spacing``/``Spacingd``, used as it is: resample the volume (bilinear) and its
label map (nearest) to a common voxel size *before* picking slices, e.g.
``Spacingd(keys=("image", "label"), pixdim=(1.5, 1.5, 3.0), mode=("bilinear", "nearest"))``, so that a 2.5-D stack
covers the same physical thickness in every case.

Shape convention: channel-first volumes ``(C, H, W, D)`` as MONAI's readers give them; ``axis`` counts spatial axes
only (0 = H, 1 = W, 2 = D, negatives from the end). On a ``MetaTensor`` the affine becomes the affine of the chosen
plane (origin moved to the slice, the slice axis removed, as ``SqueezeDim(update_meta=True)`` does), and the metadata
keeps ``slice_index`` and ``slice_axis``. Not invertible: the other slices are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from monai.config import NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Transform
from monai.utils import TransformBackends, convert_to_tensor

__all__ = ["SelectSlice", "AdjacentSlices", "AdjacentSliceChannels", "As2DImage"]

logger = logging.getLogger(__name__)


def _spatial_axis(axis: int, img: torch.Tensor, owner: str) -> int:
    """Non-negative spatial axis of a channel-first ``img`` (channel dim excluded)."""
    spatial = img.ndim - 1
    if spatial < 2:
        raise ValueError(f"{owner} expects a channel-first image with >= 2 spatial dims, got shape {tuple(img.shape)}.")
    if not -spatial <= axis < spatial:
        raise ValueError(f"{owner}: axis={axis} is out of range for {spatial} spatial dims (shape {tuple(img.shape)}).")
    return axis % spatial


def _largest_area_index(mask: NdarrayOrTensor, axis: int, labels: Sequence[int] | None, owner: str) -> int:
    """Index along spatial ``axis`` of the slice with the most foreground voxels (the first one on ties)."""
    m = convert_to_tensor(mask, track_meta=False)
    ax = _spatial_axis(axis, m, owner)
    fg = m > 0 if labels is None else torch.isin(m, torch.as_tensor(list(labels), device=m.device, dtype=m.dtype))
    area = fg.movedim(ax + 1, 0).reshape(m.shape[ax + 1], -1).sum(dim=1)
    if int(area.max()) == 0:
        name = mask.meta.get("filename_or_obj", "the mask") if isinstance(mask, MetaTensor) else "the mask"
        which = "any non-zero label" if labels is None else f"labels {list(labels)}"
        raise ValueError(f"{owner}: {name} has no voxel of {which}, so no slice can be chosen by mask area.")
    return int(torch.argmax(area))


def _check_index(index: int, size: int, owner: str) -> int:
    if not -size <= index < size:
        raise ValueError(f"{owner}: slice index {index} is out of range for an axis of length {size}.")
    return index % size


def _plane_meta(out: torch.Tensor, src: torch.Tensor, ax: int, index: int) -> torch.Tensor:
    """Give ``out`` the affine of plane ``index`` along spatial axis ``ax`` of ``src`` (MetaTensor only)."""
    if not isinstance(out, MetaTensor) or not isinstance(src, MetaTensor):
        return out
    affine = src.affine.clone()
    affine[:-1, -1] += affine[:-1, ax] * index
    keep = [i for i in range(affine.shape[0]) if i != ax]
    out.affine = affine[keep][:, keep]
    out.meta["slice_index"] = index
    out.meta["slice_axis"] = ax
    return out


class _SliceIndexer(Transform):
    """Shared argument handling of :class:`SelectSlice` and :class:`AdjacentSlices`."""

    backend = [TransformBackends.TORCH]

    def __init__(self, axis: int, index: int | None, labels: Sequence[int] | None) -> None:
        if index is not None and labels is not None:
            raise ValueError(
                f"{type(self).__name__}: labels only apply when the slice is chosen by mask area; "
                "give either index or labels, not both."
            )
        self.axis = axis
        self.index = index
        self.labels = None if labels is None else tuple(int(v) for v in labels)

    def _index(self, img: torch.Tensor, mask: NdarrayOrTensor | None) -> tuple[int, int]:
        """(spatial axis, slice index) for ``img``, from ``self.index`` or from ``mask``."""
        owner = type(self).__name__
        ax = _spatial_axis(self.axis, img, owner)
        if self.index is not None:
            if mask is not None:
                raise ValueError(f"{owner} was built with index={self.index}; a mask was also given, remove one.")
            return ax, _check_index(self.index, img.shape[ax + 1], owner)
        if mask is None:
            raise ValueError(f"{owner} was built without index, so it needs a mask to choose the slice.")
        if tuple(mask.shape[1:]) != tuple(img.shape[1:]):
            raise ValueError(
                f"{owner}: mask spatial shape {tuple(mask.shape[1:])} differs from the image's {tuple(img.shape[1:])}."
            )
        return ax, _largest_area_index(mask, self.axis, self.labels, owner)


class SelectSlice(_SliceIndexer):
    """Take one slice of a channel-first volume, by index or where a mask has the largest area.

    Input ``(C, H, W, D)``, output ``(C, H, W)`` for ``axis=2`` (the slice axis is removed).

    Args:
        axis: spatial axis to slice along (0, 1, 2 or negative).
        index: slice index (negative counts from the end); None chooses the slice with the most foreground voxels
            in the ``mask`` given at call time.
        labels: with ``index=None``, the label values counted as foreground; None counts every non-zero value.

    Example::

        SelectSlice(axis=2)(ct, mask=seg)  # the axial slice with the largest segmented area
        SelectSlice(axis=2, index=15)(ct)
    """

    def __init__(self, axis: int = 2, index: int | None = None, labels: Sequence[int] | None = None) -> None:
        super().__init__(axis=axis, index=index, labels=labels)

    def __call__(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None) -> torch.Tensor:
        """
        Args:
            img: channel-first volume.
            mask: channel-first mask with the image's spatial shape; only when built with ``index=None``.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        ax, k = self._index(img_t, mask)
        out = img_t.select(ax + 1, k)
        return _plane_meta(out, img_t, ax, k)


class AdjacentSlices(_SliceIndexer):
    """2.5-D input: ``num_slices`` adjacent slices around a centre slice, stacked as channels.

    Slice ``j`` of the stack (``j = 0 .. num_slices - 1``) is ``centre + j - num_slices // 2``, clamped to the volume
    (the edge slice is repeated near the borders). With ``C`` input channels the output has ``C * num_slices``
    channels, ordered ``c * num_slices + j``.

    Input ``(C, H, W, D)``, output ``(C * num_slices, H, W)`` for ``axis=2``.

    Args:
        num_slices: odd number of slices (the centre one plus ``num_slices // 2`` on each side).
        axis: spatial axis to slice along.
        index: centre slice index; None chooses the slice with the largest mask area (see :class:`SelectSlice`).
        labels: with ``index=None``, the label values counted as foreground; None counts every non-zero value.
    """

    def __init__(
        self, num_slices: int = 3, axis: int = 2, index: int | None = None, labels: Sequence[int] | None = None
    ) -> None:
        if num_slices < 1 or num_slices % 2 == 0:
            raise ValueError(f"AdjacentSlices: num_slices must be a positive odd number, got {num_slices}.")
        super().__init__(axis=axis, index=index, labels=labels)
        self.num_slices = num_slices

    def __call__(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None) -> torch.Tensor:
        """
        Args:
            img: channel-first volume.
            mask: channel-first mask with the image's spatial shape; only when built with ``index=None``.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        ax, k = self._index(img_t, mask)
        offsets = torch.arange(self.num_slices, device=img_t.device) - self.num_slices // 2
        picks = (offsets + k).clamp(0, img_t.shape[ax + 1] - 1)
        stack = img_t.index_select(ax + 1, picks).movedim(ax + 1, 1)
        out = stack.reshape(img_t.shape[0] * self.num_slices, *stack.shape[2:])
        return _plane_meta(out, img_t, ax, k)


class AdjacentSliceChannels(Transform):
    """2.5-D input for *every* slice of a volume at once: each voxel gets its neighbours along ``axis`` as channels.

    The volume keeps its spatial shape; channel ``c * num_slices + j`` at slice ``z`` holds input channel ``c`` at
    slice ``z + j - num_slices // 2`` (clamped to the volume, so the edge slice is repeated near the borders). Slice
    ``z`` of the output is therefore exactly ``AdjacentSlices(num_slices, axis, index=z)`` of the input, which is
    what a 2.5-D network trained on :class:`AdjacentSlices` stacks expects. Put it before MONAI's ``SliceInferer``
    (which cuts 2-D slices out of a volume and cannot see their neighbours) and before a slice sampler such as
    ``RandCropByPosNegLabeld(spatial_size=(h, w, 1))``: training and inference then build their stacks the same way.

    Memory: the output is ``num_slices`` times the input. The affine and the other metadata are kept (no spatial
    change), so ``Invertd`` and ``SaveImaged`` see the volume's geometry. Not invertible, and needs no inverse: it
    changes channels only.

    Input ``(C, H, W, D)``, output ``(C * num_slices, H, W, D)``.

    Args:
        num_slices: odd number of slices stacked (the slice itself plus ``num_slices // 2`` on each side).
        axis: spatial axis along which the neighbours are taken (2 = D, the axial axis of a RAS volume).

    Example::

        AdjacentSliceChannels(3)(ct)  # (1, 512, 512, 20) -> (3, 512, 512, 20): slices z-1, z, z+1 as channels
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, num_slices: int = 3, axis: int = 2) -> None:
        if num_slices < 1 or num_slices % 2 == 0:
            raise ValueError(f"AdjacentSliceChannels: num_slices must be a positive odd number, got {num_slices}.")
        self.num_slices = num_slices
        self.axis = axis

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first volume ``(C, *spatial)``.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        ax = _spatial_axis(self.axis, img_t, "AdjacentSliceChannels") + 1
        size = img_t.shape[ax]
        positions = torch.arange(size, device=img_t.device)
        half = self.num_slices // 2
        shifted = [
            img_t.index_select(ax, (positions + j - half).clamp(0, size - 1)) for j in range(self.num_slices)
        ]  # each (C, *spatial)
        out = torch.stack(shifted, dim=1)  # (C, num_slices, *spatial)
        return out.reshape(img_t.shape[0] * self.num_slices, *img_t.shape[1:])


class As2DImage(Transform):
    """Make a channel-first image 2-D, ``(C, H, W)``, for 2-D networks that also receive DICOM or NIfTI files.

    * Trailing spatial axes of length 1 are dropped: a 2-D DICOM or NIfTI file is read as ``(C, H, W, 1)``.
    * A real volume ``(C, H, W, D)`` (D > 1 after that) gives its middle slice along the last axis, ``D // 2``; this
      is logged at INFO level, since a 2-D classifier then sees one slice of the volume. Use :class:`SelectSlice`
      to choose another slice (by index or by largest mask area).
    * A 2-D image ``(C, H, W)`` is returned unchanged.

    On a ``MetaTensor`` whose affine has one row per spatial axis plus one (a NIfTI volume's 4x4 affine for
    ``(C, H, W, D)``), the affine becomes that of the kept plane, as in :class:`SelectSlice`; the affine of a 2-D
    file (MONAI gives PNG/JPEG files a 4x4 affine too) is left as it is.

    Input: channel-first ``(C, H, W)``, ``(C, H, W, D)`` or ``(C, H, W, 1, ..., 1)``; output ``(C, H, W)``.

    Raises:
        ValueError: fewer than 2 spatial axes, or more than 3 left after dropping the trailing length-1 axes.
    """

    backend = [TransformBackends.TORCH]

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: channel-first image with 2 spatial axes, or 3 (a volume) plus any trailing length-1 axes.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        shape = tuple(img_t.shape)
        while img_t.ndim > 3 and img_t.shape[-1] == 1:
            img_t = self._take(img_t, 0)
        if img_t.ndim == 4:
            logger.info("3-D input of shape %s: keeping its middle slice (index %d)", shape, img_t.shape[-1] // 2)
            img_t = self._take(img_t, img_t.shape[-1] // 2)
        if img_t.ndim != 3:
            raise ValueError(
                f"As2DImage expects a channel-first 2-D image (C, H, W) or volume (C, H, W, D), got shape {shape}; "
                "add a channel dimension first (EnsureChannelFirst / LoadImage(ensure_channel_first=True))."
            )
        return img_t

    @staticmethod
    def _take(img: torch.Tensor, index: int) -> torch.Tensor:
        """Slice ``index`` of the last axis; the affine follows when it matches the spatial rank."""
        out = img[..., index]
        ax = img.ndim - 2  # the last spatial axis
        if isinstance(img, MetaTensor) and img.affine.shape[0] == img.ndim:
            return _plane_meta(out, img, ax, index)
        return out
