# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch

from monai_fusion.networks.layers import GRN, LayerNorm2d, channel_shuffle


def test_layer_norm_2d_equals_nn_layer_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 7)
    ln2d = LayerNorm2d(6, eps=1e-6)
    ref = torch.nn.LayerNorm(6, eps=1e-6)
    with torch.no_grad():
        for m in (ln2d, ref):
            m.weight.copy_(torch.linspace(0.5, 1.5, 6))
            m.bias.copy_(torch.linspace(-1, 1, 6))
    torch.testing.assert_close(ln2d(x), ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="B, C, H, W"):
        ln2d(torch.zeros(2, 6, 5))


def test_grn_identity_at_init_and_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 5)
    grn = GRN(4)
    torch.testing.assert_close(grn(x), x)
    with torch.no_grad():
        grn.gamma.fill_(0.5)
        grn.beta.fill_(0.1)
    gx = x.pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
    nx = gx / (gx.mean(dim=1, keepdim=True) + 1e-6)
    torch.testing.assert_close(grn(x), 0.5 * x * nx + 0.1 + x)


def test_channel_shuffle_orders():
    x = torch.arange(12.0).reshape(1, 12, 1, 1)
    y = channel_shuffle(x, 4).flatten().tolist()
    # (4 groups of 3) -> interleaved: output i*4+j = input j*3+i
    assert y == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]
    z = channel_shuffle(x.reshape(1, 1, 1, 12), 2, channel_dim=-1).flatten().tolist()
    assert z == [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]
    with pytest.raises(ValueError, match="divisible"):
        channel_shuffle(x, 5)
