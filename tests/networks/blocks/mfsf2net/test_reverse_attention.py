# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_fusion.networks.blocks.mfsf2net.reverse_attention import (
    RADecoder,
    RAUpBlock,
    ReverseAttention,
    reverse_attention_weight,
)
from tests.utils import assert_all_parameters_have_grad


def test_reverse_attention_weight():
    torch.manual_seed(0)
    binary = torch.randn(2, 1, 4, 4)
    torch.testing.assert_close(reverse_attention_weight(binary, True), 1 / (1 + torch.exp(binary)))
    multi = torch.randn(2, 3, 4, 4)
    w = reverse_attention_weight(multi, False)
    assert w.shape == (2, 1, 4, 4)
    torch.testing.assert_close(w, multi[:, :1].exp() / multi.exp().sum(1, keepdim=True))


def test_reverse_attention_by_hand():
    torch.manual_seed(0)
    m = ReverseAttention(8, 1).eval()
    x, coarse = torch.randn(2, 8, 6, 6), torch.randn(2, 1, 6, 6)
    y, logits = m(x, coarse)
    expected_y = x + m.refine(x * (1 - torch.sigmoid(coarse)))
    torch.testing.assert_close(y, expected_y)
    torch.testing.assert_close(logits, coarse + F.conv2d(expected_y, m.predict.weight, m.predict.bias, padding=1))


def test_up_block_shapes_and_skip_check():
    torch.manual_seed(0)
    block = RAUpBlock(8, 4, 6, 2)
    y, logits = block(torch.randn(1, 8, 3, 5), torch.randn(1, 2, 3, 5), torch.randn(1, 4, 6, 10))
    assert y.shape == (1, 6, 6, 10) and logits.shape == (1, 2, 6, 10)
    with pytest.raises(ValueError, match="skip"):
        block(torch.randn(1, 8, 3, 5), torch.randn(1, 2, 3, 5))


@pytest.mark.parametrize("out_channels", [1, 3])
def test_decoder_side_outputs_finest_first(out_channels):
    torch.manual_seed(0)
    dec = RADecoder((8, 8, 8, 8), channels=8, out_channels=out_channels)
    # strides 4, 8, 16, 32 of a 64 x 96 image
    feats = [torch.randn(2, 8, 64 // s, 96 // s) for s in (4, 8, 16, 32)]
    outs = dec(feats)
    assert [tuple(o.shape) for o in outs] == [(2, out_channels, 64 // s, 96 // s) for s in (2, 4, 8, 16, 32)]
    sum(o.mean() for o in outs).backward()
    assert_all_parameters_have_grad(dec)
    with pytest.raises(ValueError, match="4 feature maps"):
        dec(feats[1:])


def test_decoder_invalid_args():
    with pytest.raises(ValueError, match="in_channels"):
        RADecoder(())
    with pytest.raises(ValueError, match="extra_upsamples"):
        RADecoder(extra_upsamples=-1)


def test_decoder_torchscript():
    torch.manual_seed(0)
    dec = RADecoder((4, 4, 4, 4), channels=4, out_channels=2).eval()
    feats = [torch.randn(1, 4, 32 // s, 32 // s) for s in (4, 8, 16, 32)]
    for a, b in zip(torch.jit.script(dec)(feats), dec(feats)):
        torch.testing.assert_close(a, b)
