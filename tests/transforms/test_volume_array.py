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
"""SelectSlice and AdjacentSlices: by index, by largest mask area, affine of the chosen plane, real NIfTI volume."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_fusion.transforms.io import LoadMedicalImage
from monai_fusion.transforms.volume.array import AdjacentSlices, SelectSlice
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

VOL = np.arange(2 * 4 * 5 * 6, dtype=np.float32).reshape(2, 4, 5, 6)  # (C, H, W, D)


def _mask_with_largest(axis: int, index: int, shape=(4, 5, 6)) -> np.ndarray:
    """A (1, *shape) label map whose label-2 area is largest at ``index`` along ``axis``; label 1 peaks elsewhere."""
    mask = np.zeros(shape, dtype=np.int64)
    sl = [slice(None)] * 3
    sl[axis] = index
    mask[tuple(sl)] = 2
    other = [slice(None)] * 3
    other[axis] = (index + 1) % shape[axis]
    mask[tuple(other)] = 1
    sl2 = [slice(0, 1)] * 3
    sl2[axis] = (index + 2) % shape[axis]
    mask[tuple(sl2)] = 2  # one extra label-2 voxel elsewhere
    return mask[None]


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("axis, index", [(0, 1), (1, -1), (2, 3), (-1, 0)])
def test_select_slice_by_index(to_type, axis, index):
    out = SelectSlice(axis=axis, index=index)(to_type(VOL))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_array_equal(to_numpy(out), np.take(VOL, index, axis=(axis % 3) + 1))


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("axis, index", [(0, 2), (1, 4), (2, 1)])
def test_select_slice_by_largest_mask_area(to_type, axis, index):
    mask = _mask_with_largest(axis, index)
    out = SelectSlice(axis=axis, labels=[2])(to_type(VOL), mask=to_type(mask))
    np.testing.assert_array_equal(to_numpy(out), np.take(VOL, index, axis=axis + 1))
    # counting every non-zero label, the index+1 plane (label 1, full) ties with the index plane: the first wins
    any_label = SelectSlice(axis=axis)(VOL, mask=mask)
    areas = [(np.take(mask[0], i, axis=axis) > 0).sum() for i in range(mask.shape[axis + 1])]
    np.testing.assert_array_equal(to_numpy(any_label), np.take(VOL, int(np.argmax(areas)), axis=axis + 1))


def test_plane_affine_maps_voxels_to_the_same_world_points():
    rot = torch.tensor([[0.0, -1.0, 0.0], [0.8, 0.0, -0.6], [0.6, 0.0, 0.8]], dtype=torch.float64)
    affine = torch.eye(4, dtype=torch.float64)
    affine[:3, :3] = rot * torch.tensor([0.7, 0.9, 2.5], dtype=torch.float64)
    affine[:3, 3] = torch.tensor([-10.0, 4.0, 30.0], dtype=torch.float64)
    img = MetaTensor(torch.as_tensor(VOL), affine=affine)
    for axis, k in [(0, 2), (1, 3), (2, 5)]:
        out = SelectSlice(axis=axis, index=k)(img)
        keep = [a for a in range(3) if a != axis]
        assert out.meta["slice_index"] == k and out.meta["slice_axis"] == axis
        for i, j in [(0, 0), (1, 2), (3, 1)]:
            voxel = [0, 0, 0]
            voxel[keep[0]], voxel[keep[1]], voxel[axis] = i, j, k
            world = affine @ torch.tensor([*voxel, 1.0], dtype=torch.float64)
            plane = out.affine @ torch.tensor([i, j, 1.0], dtype=torch.float64)
            torch.testing.assert_close(plane[:2], world[keep])
    assert torch.equal(img.affine, affine) and "slice_index" not in img.meta  # the input is left alone


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("index", [0, 3, 5])
def test_adjacent_slices_clamp_at_the_edges(to_type, index):
    out = AdjacentSlices(num_slices=5, axis=2, index=index)(to_type(VOL))
    picks = np.clip(np.arange(5) - 2 + index, 0, 5)
    expected = np.stack([VOL[c, :, :, p] for c in range(2) for p in picks])  # channel c * 5 + j
    assert out.shape == (10, 4, 5)
    np.testing.assert_array_equal(to_numpy(out), expected)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_adjacent_slices_centred_on_the_mask(to_type):
    mask = _mask_with_largest(axis=1, index=4)
    out = AdjacentSlices(num_slices=3, axis=1, labels=(2,))(to_type(VOL[:1]), mask=to_type(mask))
    np.testing.assert_array_equal(to_numpy(out), np.stack([VOL[0, :, p, :] for p in (3, 4, 4)]))


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="odd"):
        AdjacentSlices(num_slices=4)
    with pytest.raises(ValueError, match="not both"):
        SelectSlice(index=1, labels=[1])
    with pytest.raises(ValueError, match="needs a mask"):
        SelectSlice()(VOL)
    with pytest.raises(ValueError, match="remove one"):
        SelectSlice(index=1)(VOL, mask=np.ones((1, 4, 5, 6)))
    with pytest.raises(ValueError, match="out of range"):
        SelectSlice(index=6)(VOL)
    with pytest.raises(ValueError, match="out of range"):
        SelectSlice(axis=3, index=0)(VOL)
    with pytest.raises(ValueError, match="differs"):
        SelectSlice()(VOL, mask=np.ones((1, 4, 5, 7)))
    with pytest.raises(ValueError, match="labels \\[7\\]"):
        SelectSlice(labels=[7])(VOL, mask=_mask_with_largest(2, 1))


@pytest.mark.data
def test_real_ct_largest_label_slice_and_25d_stack():
    ct = LoadMedicalImage(ensure_channel_first=True)(require_data("ct_volumes", "example_ct_sm.nii.gz"))
    seg_path = require_data("ct_volumes", "example_seg.nii.gz")
    seg = LoadMedicalImage(ensure_channel_first=True)(seg_path)
    raw_ct = np.asarray(nib.load(str(require_data("ct_volumes", "example_ct_sm.nii.gz"))).dataobj, dtype=np.float32)
    raw_seg = np.asarray(nib.load(str(seg_path)).dataobj)
    liver = 5  # the label with the largest volume in this map
    k = int(np.argmax([(raw_seg[..., z] == liver).sum() for z in range(raw_seg.shape[2])]))
    out = SelectSlice(axis=2, labels=[liver])(ct, mask=seg)
    np.testing.assert_array_equal(to_numpy(out)[0], raw_ct[..., k])
    assert out.meta["slice_index"] == k and out.affine.shape == (3, 3)
    stack = AdjacentSlices(num_slices=3, axis=2, labels=[liver])(ct, mask=seg)
    np.testing.assert_array_equal(
        to_numpy(stack), np.stack([raw_ct[..., min(max(z, 0), 29)] for z in (k - 1, k, k + 1)])
    )
