# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch

from monai_fusion.networks.ops import HaarDWT2d, HaarIDWT2d, haar_dwt2d, haar_filters, haar_idwt2d


def test_filters_match_spec():
    f = haar_filters().squeeze(1)
    expected = 0.5 * torch.tensor(
        [[[1, 1], [1, 1]], [[1, 1], [-1, -1]], [[1, -1], [1, -1]], [[1, -1], [-1, 1]]], dtype=torch.float32
    )
    assert torch.equal(f, expected)
    # orthonormal: the four flattened filters form an orthonormal basis of R^4
    flat = f.reshape(4, 4)
    torch.testing.assert_close(flat @ flat.T, torch.eye(4))


@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (1, 1, 2, 2), (3, 5, 16, 6)])
def test_perfect_reconstruction(shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    y = haar_dwt2d(x)
    assert y.shape == (shape[0], 4 * shape[1], shape[2] // 2, shape[3] // 2)
    assert (haar_idwt2d(y) - x).abs().max() <= 1e-6
    assert (HaarIDWT2d()(HaarDWT2d()(x)) - x).abs().max() <= 1e-6


def test_subband_layout_by_hand():
    # a 2x2 image [[a, b], [c, d]] has LL=(a+b+c+d)/2, LH=(a+b-c-d)/2, HL=(a-b+c-d)/2, HH=(a-b-c+d)/2
    a, b, c, d = 1.0, 2.0, 4.0, 8.0
    x = torch.tensor([[[[a, b], [c, d]]], [[[2 * a, b], [c, d]]]]).reshape(1, 2, 2, 2)
    y = haar_dwt2d(x).flatten()
    # channels are [LL | LH | HL | HH], each C=2 wide
    ll0, ll1, lh0, lh1, hl0, hl1, hh0, hh1 = y.tolist()
    assert ll0 == pytest.approx((a + b + c + d) / 2)
    assert lh0 == pytest.approx((a + b - c - d) / 2)
    assert hl0 == pytest.approx((a - b + c - d) / 2)
    assert hh0 == pytest.approx((a - b - c + d) / 2)
    assert ll1 == pytest.approx((2 * a + b + c + d) / 2)
    assert hh1 == pytest.approx((2 * a - b - c + d) / 2)


def test_ll_is_twice_the_average_pool():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 6, 8)
    ll = haar_dwt2d(x)[:, :4]
    torch.testing.assert_close(ll, 2 * torch.nn.functional.avg_pool2d(x, 2))


def test_matches_pytorch_wavelets():
    pw = pytest.importorskip("pytorch_wavelets")
    torch.manual_seed(2)
    x = torch.randn(2, 3, 8, 12)
    low, (high,) = pw.DWTForward(J=1, wave="haar", mode="zero")(x)
    y = haar_dwt2d(x)
    torch.testing.assert_close(y[:, :3], low, atol=1e-6, rtol=0)
    for i in range(3):  # pytorch_wavelets orders the high bands (LH, HL, HH) like the spec
        torch.testing.assert_close(y[:, 3 * (i + 1) : 3 * (i + 2)], high[:, :, i], atol=1e-6, rtol=0)


def test_gradients_are_adjoint():
    torch.manual_seed(3)
    x = torch.randn(1, 2, 4, 6, requires_grad=True)
    g = torch.randn(1, 8, 2, 3)
    (haar_dwt2d(x) * g).sum().backward()
    # the DWT is orthonormal, so its adjoint (the backward) is the IDWT
    torch.testing.assert_close(x.grad, haar_idwt2d(g))


def test_bad_shapes():
    with pytest.raises(ValueError, match="even"):
        haar_dwt2d(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="divisible by 4"):
        haar_idwt2d(torch.zeros(1, 6, 2, 2))
    with pytest.raises(ValueError, match="4-D"):
        haar_dwt2d(torch.zeros(1, 4, 4))


def test_filters_are_not_in_state_dict():
    assert "filters" not in HaarDWT2d().state_dict()


def _conv_dwt(x: torch.Tensor) -> torch.Tensor:
    """The transform in its convolution form: each channel filtered by the four Haar filters at stride 2."""
    b, c, h, w = x.shape
    y = torch.nn.functional.conv2d(x.reshape(b * c, 1, h, w), haar_filters(x.dtype), stride=2)
    return y.reshape(b, c, 4, h // 2, w // 2).transpose(1, 2).reshape(b, 4 * c, h // 2, w // 2)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (1, 1, 2, 2), (2, 16, 12, 6)])
def test_slicing_form_equals_the_convolution_form_and_keeps_the_layout(shape, channels_last):
    torch.manual_seed(4)
    x = torch.randn(shape)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x_in = x.contiguous(memory_format=fmt)
    y = haar_dwt2d(x_in)
    torch.testing.assert_close(y, _conv_dwt(x), atol=1e-6, rtol=0)
    # the IDWT is the adjoint of the DWT: conv_transpose2d with the same filters
    b, c4, h, w = y.shape
    y_cf = y.contiguous().reshape(b, 4, c4 // 4, h, w).transpose(1, 2).reshape(b * c4 // 4, 4, h, w)
    ref = torch.nn.functional.conv_transpose2d(y_cf, haar_filters(), stride=2).reshape(shape)
    z = haar_idwt2d(y.contiguous(memory_format=fmt))
    torch.testing.assert_close(z, ref, atol=1e-6, rtol=0)
    if channels_last and shape[1] > 1:
        # channels-last in, channels-last out: no copy back to NCHW
        assert y.is_contiguous(memory_format=torch.channels_last)
        assert z.is_contiguous(memory_format=torch.channels_last)
    if not channels_last:
        assert y.is_contiguous() and z.is_contiguous()
