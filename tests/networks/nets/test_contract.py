# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The contract every network variant keeps (the timm registry-test pattern): a variant listed in
``NETWORK_VARIANTS`` is tested here with a tiny configuration as soon as it is listed."""

from __future__ import annotations

import io

import pytest
import torch

from monai_fusion.networks.nets import NETWORK_VARIANTS
from tests.networks.helpers import OUT_CHANNELS, TINY_CONFIGS
from tests.utils import assert_all_parameters_have_grad


def test_every_variant_has_a_tiny_config():
    assert set(TINY_CONFIGS) == set(NETWORK_VARIANTS)


def _build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    kwargs, shape = TINY_CONFIGS[name]
    torch.manual_seed(0)
    net = NETWORK_VARIANTS[name](spatial_dims=2, in_channels=shape[1], out_channels=OUT_CHANNELS, **kwargs)
    return net, torch.randn(shape)


def _is_segmentation(name: str) -> bool:
    return name.endswith("_seg")


def _expected_shape(name: str, x: torch.Tensor) -> tuple[int, ...]:
    if _is_segmentation(name):
        return (x.shape[0], OUT_CHANNELS, *x.shape[2:])
    return (x.shape[0], OUT_CHANNELS)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_forward_backward_every_parameter(name):
    net, x = _build(name)
    net.train()
    out = net(x)
    outputs = out if isinstance(out, (list, tuple)) else [out]
    for o in outputs:
        assert torch.isfinite(o).all(), f"{name}: non-finite output"
    if not _is_segmentation(name):
        assert outputs[0].shape == _expected_shape(name, x)
    # a loss that touches every output (deep supervision included)
    loss = sum((o.float() ** 2).mean() for o in outputs)
    loss.backward()
    assert_all_parameters_have_grad(net)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_eval_is_deterministic_and_traces(name):
    net, x = _build(name)
    net.eval()
    with torch.no_grad():
        y1 = net(x)
        y2 = net(x)
        assert y1.shape == _expected_shape(name, x)
        assert torch.isfinite(y1).all()
        torch.testing.assert_close(y1, y2, rtol=0, atol=0)
        traced = torch.jit.trace(net, x, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        torch.testing.assert_close(loaded(x), y1, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_feature_info_matches_forward_intermediates(name):
    """timm's vocabulary: ``forward_intermediates`` gives the maps ``feature_info`` describes (``num_chs``,
    ``reduction``, ``module``), ``forward_features`` the last (unpooled) map, and ``forward_head`` of it the output."""
    net, x = _build(name)
    net.eval()
    with torch.no_grad():
        final, feats = net.forward_intermediates(x)
        only = net.forward_intermediates(x, intermediates_only=True)
        last_two = net.forward_intermediates(x, indices=2, intermediates_only=True)
        picked = net.forward_intermediates(x, indices=[0, -1], intermediates_only=True)
        last = net.forward_features(x)
        out = net(x)
        head = net.forward_head(last) if hasattr(net, "forward_head") else None
    assert len(feats) == len(only) == len(net.feature_info) == 4
    for a, b in zip(feats, only):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for got, i in zip(last_two + picked, (2, 3, 0, 3)):
        torch.testing.assert_close(got, feats[i], rtol=0, atol=0)
    torch.testing.assert_close(final, last, rtol=0, atol=0)
    assert last.shape == feats[-1].shape
    if head is not None:  # the classifiers with a timm-style head: forward == forward_head(forward_features)
        torch.testing.assert_close(head, out, rtol=0, atol=0)
    with pytest.raises(ValueError, match="indices"):
        net.forward_intermediates(x, indices=5)
    with pytest.raises(ValueError, match="out of range"):
        net.forward_intermediates(x, indices=[4])
    names = dict(net.named_modules())
    for f, info in zip(feats, net.feature_info):
        assert f.shape[1] == info["num_chs"]
        assert x.shape[2] // f.shape[2] == info["reduction"] and x.shape[3] // f.shape[3] == info["reduction"]
        assert info["module"] in names, f"{name}: feature_info module {info['module']!r} does not exist"


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_three_dimensional_input_is_rejected(name):
    kwargs, shape = TINY_CONFIGS[name]
    with pytest.raises(ValueError, match="spatial_dims"):
        NETWORK_VARIANTS[name](spatial_dims=3, in_channels=shape[1], out_channels=OUT_CHANNELS, **kwargs)
