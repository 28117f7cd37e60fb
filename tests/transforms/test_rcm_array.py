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
"""StackRCMSlices, and the MONAI transforms reused for RCM intensity steps (percentile normalisation, median filter).

No RCM data is public in ../shared/data, so the slices are small PNG stand-ins written to a temporary folder.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Compose, MedianSmooth, Resize, ScaleIntensityRangePercentiles
from PIL import Image

from monai_fusion.transforms.channels.array import EnsureRGB
from monai_fusion.transforms.rcm.array import StackRCMSlices
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy

RNG = np.random.default_rng(0)
SLICES = [RNG.uniform(0, 255, size=(1, 6, 5)).astype(np.float32) for _ in range(4)]


def _write_slices(folder, shapes) -> list:
    paths = []
    for i, (h, w) in enumerate(shapes):
        path = folder / f"rcm_{i}.png"
        Image.fromarray(RNG.integers(0, 256, size=(h, w), dtype=np.uint8), mode="L").save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_stack_arrays(to_type):
    out = StackRCMSlices(num_slices=4)([to_type(s) for s in SLICES])
    assert isinstance(out, torch.Tensor) and out.shape == (4, 1, 6, 5)
    np.testing.assert_array_equal(to_numpy(out), np.stack(SLICES))


def test_stack_files_with_per_slice_transform(tmp_path):
    paths = _write_slices(tmp_path, [(30, 40), (30, 40), (32, 40), (30, 44)])  # unequal sizes, resized per slice
    lower, upper = 2.0, 98.0
    per_slice = Compose(
        [
            EnsureRGB(),
            ScaleIntensityRangePercentiles(lower=lower, upper=upper, b_min=0.0, b_max=1.0, clip=True),
            Resize((16, 16)),
        ]
    )
    out = StackRCMSlices(num_slices=4, slice_transform=per_slice)(paths)
    assert out.shape == (4, 3, 16, 16)
    assert out.meta["filename_or_obj"] == str(paths[0])
    # the first slice, recomputed: PIL -> (W, H) as MONAI's PILReader gives it -> percentiles -> resize
    raw = np.asarray(Image.open(paths[0]), dtype=np.float32).T
    lo, hi = np.percentile(raw, [lower, upper])
    norm = np.clip((raw - lo) / (hi - lo), 0, 1)
    expected = Resize((16, 16))(np.repeat(norm[None], 3, axis=0))
    np.testing.assert_allclose(to_numpy(out[0]), to_numpy(expected), atol=1e-5)


def test_unequal_shapes_name_the_files(tmp_path):
    paths = _write_slices(tmp_path, [(30, 40), (30, 40), (32, 40)])
    with pytest.raises(ValueError) as err:
        StackRCMSlices()(paths)
    msg = str(err.value)
    assert "rcm_2.png" in msg and "[1, 40, 32]" in msg and "rcm_0.png, " in msg and "[1, 40, 30]" in msg


def test_wrong_count_and_layout():
    with pytest.raises(ValueError, match="expected 4 slices per case, got 3"):
        StackRCMSlices(num_slices=4)(SLICES[:3])
    with pytest.raises(ValueError, match="slice 1 must be channel-first"):
        StackRCMSlices()([SLICES[0], SLICES[1][0]])
    with pytest.raises(ValueError, match="non-empty sequence"):
        StackRCMSlices()("one_file.png")
    with pytest.raises(ValueError, match="num_slices"):
        StackRCMSlices(num_slices=0)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_monai_percentile_normalisation_is_per_image(to_type):
    """Reuse check: ScaleIntensityRangePercentiles is the per-image percentile normalisation RCM needs."""
    img = SLICES[0] * 3.0 + 7.0
    out = ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=0.0, b_max=1.0, clip=True)(to_type(img))
    lo, hi = np.percentile(img, [1, 99])
    np.testing.assert_allclose(to_numpy(out), np.clip((img - lo) / (hi - lo), 0, 1), atol=1e-5)
    stack = np.stack([SLICES[0], SLICES[1] * 10.0])  # (N, C, H, W): each slice normalised on its own
    per_slice = ScaleIntensityRangePercentiles(lower=1, upper=99, b_min=0.0, b_max=1.0, clip=True, channel_wise=True)
    out = per_slice(to_type(stack))
    for n in range(2):
        lo, hi = np.percentile(stack[n], [1, 99])
        np.testing.assert_allclose(to_numpy(out[n]), np.clip((stack[n] - lo) / (hi - lo), 0, 1), atol=1e-5)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_monai_median_smooth_suppresses_speckle(to_type):
    """Reuse check: MedianSmooth(radius=1) is a 3x3 median; isolated bright speckles disappear."""
    img = np.full((1, 7, 8), 50.0, dtype=np.float32)
    img[0, 2, 3] = img[0, 4, 5] = 255.0
    out = to_numpy(MedianSmooth(radius=1)(to_type(img)))
    np.testing.assert_array_equal(out, np.full_like(img, 50.0))
    noisy = SLICES[0][0]
    windows = np.lib.stride_tricks.sliding_window_view(noisy, (3, 3))
    smooth = to_numpy(MedianSmooth(radius=1)(to_type(SLICES[0])))[0]
    np.testing.assert_allclose(smooth[1:-1, 1:-1], np.median(windows, axis=(-1, -2)), atol=1e-6)
