# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""SliceAggregateInferer: the volume's probabilities are the mean of its slices' softmax probabilities."""

from __future__ import annotations

import pytest
import torch

from monai_fusion.inferers import SliceAggregateInferer


class _MeanClassifier(torch.nn.Module):
    """A 2-D 'classifier': logits (mean, -mean) of each image; asserts it only ever sees 2-D batches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([m, -m], dim=1)


@pytest.mark.parametrize("slice_batch_size", [1, 3, 64])
def test_mean_of_slice_softmax(slice_batch_size: int) -> None:
    torch.manual_seed(0)
    volumes = torch.randn(2, 3, 8, 8, 5)
    net = _MeanClassifier()
    out = SliceAggregateInferer(slice_batch_size=slice_batch_size)(volumes, net)
    assert out.shape == (2, 2)
    expected = torch.stack(
        [torch.stack([torch.softmax(net(volumes[b : b + 1, ..., z]), 1)[0] for z in range(5)]).mean(0) for b in (0, 1)]
    )
    torch.testing.assert_close(torch.softmax(out, dim=1), expected)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(2))  # already log-probabilities


def test_other_slice_axis_and_2d_input() -> None:
    volume = torch.zeros(1, 1, 4, 6, 6)
    volume[:, :, 0] = 5.0  # only the first slice along H is bright
    net = _MeanClassifier()
    along_h = torch.softmax(SliceAggregateInferer(spatial_dim=0)(volume, net), 1)
    along_d = torch.softmax(SliceAggregateInferer(spatial_dim=2)(volume, net), 1)
    p_bright = torch.softmax(torch.tensor([5.0, -5.0]), 0)[0]
    assert torch.isclose(along_h[0, 0], (p_bright + 3 * 0.5) / 4)  # 1 of 4 slices along H is bright
    assert torch.isclose(along_d[0, 0], torch.softmax(torch.tensor([5 / 4, -5 / 4]), 0)[0])  # every D slice alike
    image = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(SliceAggregateInferer()(image, net), torch.log_softmax(net(image), 1))


def test_rejects_bad_shapes_and_arguments() -> None:
    with pytest.raises(ValueError, match="spatial_dim"):
        SliceAggregateInferer(spatial_dim=3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W, D\)"):
        SliceAggregateInferer()(torch.zeros(2, 8), _MeanClassifier())
