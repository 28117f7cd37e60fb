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
"""As2DImage / As2DImaged: 2-D kept, trailing length-1 axes dropped, middle slice of a volume, bad ranks refused."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_fusion.transforms import As2DImage, As2DImaged
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy

IMG_2D = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)  # (C, H, W)
VOLUME = np.arange(2 * 4 * 5 * 7, dtype=np.float32).reshape(2, 4, 5, 7)  # (C, H, W, D)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_2d_image_is_unchanged(to_type):
    out = As2DImage()(to_type(IMG_2D))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_array_equal(to_numpy(out), IMG_2D)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("extra", [(1,), (1, 1)], ids=["(C,H,W,1)", "(C,H,W,1,1)"])
def test_trailing_singleton_axes_are_dropped(to_type, extra):
    out = As2DImage()(to_type(IMG_2D.reshape(*IMG_2D.shape, *extra)))
    assert tuple(out.shape) == IMG_2D.shape
    np.testing.assert_array_equal(to_numpy(out), IMG_2D)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_volume_gives_its_middle_slice_and_says_so(to_type, caplog):
    with caplog.at_level(logging.INFO, logger="monai_fusion.transforms.volume.array"):
        out = As2DImage()(to_type(VOLUME))
    np.testing.assert_array_equal(to_numpy(out), VOLUME[..., 3])
    assert "middle slice (index 3)" in caplog.text and "(2, 4, 5, 7)" in caplog.text
    # (C, H, W, D, 1): the singleton goes first, then the middle slice of D
    np.testing.assert_array_equal(to_numpy(As2DImage()(to_type(VOLUME[..., None]))), VOLUME[..., 3])


@pytest.mark.parametrize("shape", [(4,), (3, 4), (1, 2, 3, 4, 5)])
def test_other_ranks_are_refused_with_the_shape(shape):
    with pytest.raises(ValueError, match=r"As2DImage expects .* got shape \(" + ", ".join(map(str, shape))):
        As2DImage()(np.zeros(shape, dtype=np.float32))


def test_metatensor_meta_is_kept_and_a_volume_affine_follows_the_plane():
    affine = torch.tensor(
        [[0.8, 0.0, 0.0, -5.0], [0.0, 0.9, 0.0, 2.0], [0.0, 0.0, 2.5, 30.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64
    )
    volume = MetaTensor(torch.as_tensor(VOLUME), affine=affine, meta={"filename_or_obj": "ct.nii.gz"})
    out = As2DImage()(volume)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "ct.nii.gz"
    expected = torch.tensor([[0.8, 0.0, -5.0], [0.0, 0.9, 2.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(out.affine, expected)  # in-plane axes kept; the slice's z (30 + 3 * 2.5) is dropped
    assert out.meta["slice_index"] == 3 and torch.equal(volume.affine, affine)  # the input is left alone
    # a 2-D file read with MONAI's default 4x4 affine: nothing to remove, the affine is kept
    flat = MetaTensor(torch.as_tensor(IMG_2D), affine=affine, meta={"filename_or_obj": "x.png"})
    kept = As2DImage()(flat)
    assert kept.meta["filename_or_obj"] == "x.png" and torch.equal(kept.affine, affine)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_dictionary_version(to_type):
    data = {"image": to_type(VOLUME[..., :1]), "other": to_type(VOLUME), "label": 1}
    out = As2DImaged(keys=["image", "other", "absent"], allow_missing_keys=True)(data)
    np.testing.assert_array_equal(to_numpy(out["image"]), VOLUME[..., 0])
    np.testing.assert_array_equal(to_numpy(out["other"]), VOLUME[..., 3])
    assert out["label"] == 1 and "absent" not in out
    with pytest.raises(KeyError):
        As2DImaged(keys="absent")(data)
