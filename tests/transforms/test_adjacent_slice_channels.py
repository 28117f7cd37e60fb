# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""AdjacentSliceChannels(d): every slice of a volume with its neighbours as channels, equal to AdjacentSlices per
slice, and usable in front of MONAI's SliceInferer."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import SliceInferer

from monai_fusion.transforms import AdjacentSliceChannels, AdjacentSliceChannelsd, AdjacentSlices


@pytest.mark.parametrize("num_slices", [1, 3, 5])
@pytest.mark.parametrize("axis", [2, 0, -1])
def test_each_slice_equals_adjacent_slices(num_slices: int, axis: int) -> None:
    vol = torch.randn(2, 6, 5, 7)
    out = AdjacentSliceChannels(num_slices, axis=axis)(vol)
    assert out.shape == (2 * num_slices, 6, 5, 7)
    ax = axis % 3
    for z in range(vol.shape[ax + 1]):
        expected = AdjacentSlices(num_slices, axis=axis, index=z)(vol)
        torch.testing.assert_close(out.select(ax + 1, z), expected)


def test_edges_repeat_and_centre_channel_is_the_input() -> None:
    vol = torch.arange(4.0).reshape(1, 1, 1, 4)  # slice z holds the value z
    out = AdjacentSliceChannels(3)(vol)
    assert out[:, 0, 0, :].tolist() == [[0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 3]]


def test_keeps_affine_and_dictionary_version_only_touches_its_keys() -> None:
    affine = torch.diag(torch.tensor([0.8, 0.8, 2.5, 1.0], dtype=torch.float64))
    img = MetaTensor(torch.randn(1, 8, 8, 4), affine=affine)
    label = MetaTensor(torch.ones(1, 8, 8, 4), affine=affine)
    d = AdjacentSliceChannelsd(keys="image", num_slices=3)({"image": img, "label": label})
    assert d["image"].shape == (3, 8, 8, 4) and isinstance(d["image"], MetaTensor)
    torch.testing.assert_close(d["image"].affine, affine)
    assert d["label"] is label


def test_slice_inferer_sees_the_neighbours() -> None:
    """A 2-D 'network' that returns centre minus the mean of the neighbours gives 0 on a linear ramp along z: it
    only does if every slice it receives from SliceInferer carries slices z-1, z, z+1 as channels."""
    ramp = torch.arange(6.0).reshape(1, 1, 1, 1, 6).expand(1, 1, 8, 8, 6).clone()
    stacked = AdjacentSliceChannels(3)(ramp[0])[None]  # (1, 3, 8, 8, 6)

    def net(x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4 and x.shape[1] == 3
        return x[:, 1:2] - 0.5 * (x[:, 0:1] + x[:, 2:3])

    out = SliceInferer(roi_size=(8, 8), spatial_dim=2, sw_batch_size=4)(stacked, net)
    assert out.shape == (1, 1, 8, 8, 6)
    assert torch.allclose(out[..., 1:5], torch.zeros(1)), "interior slices see both neighbours"
    assert torch.allclose(out[..., 0], torch.tensor(-0.5)) and torch.allclose(out[..., 5], torch.tensor(0.5))


def test_rejects_even_num_slices() -> None:
    with pytest.raises(ValueError, match="odd"):
        AdjacentSliceChannels(2)
