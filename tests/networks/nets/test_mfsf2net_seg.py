# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch

from monai_fusion.networks.nets.mfsf2net_seg import MFSF2NetSeg
from tests.utils import assert_all_parameters_have_grad


@pytest.fixture(scope="module", params=[1, 3])
def seg(request) -> MFSF2NetSeg:
    torch.manual_seed(0)
    return MFSF2NetSeg(out_channels=request.param, drop_path_rate=0.0)


def test_train_mode_side_outputs(seg):
    torch.manual_seed(0)
    seg.train()
    k = seg.decoder.initial.out_channels
    if k == 1:
        with torch.no_grad():
            outs = seg(torch.randn(2, 3, 32, 64))
        assert isinstance(outs, list) and [o.shape for o in outs] == [(2, 1, 32, 64)] * 5
        return
    # one backward pass over the whole segmentation net, every side output supervised
    outs = seg(torch.randn(2, 3, 64, 64))
    assert isinstance(outs, list) and [o.shape for o in outs] == [(2, k, 64, 64)] * 5
    sum(o.square().mean() for o in outs).backward()
    assert_all_parameters_have_grad(seg)
    seg.zero_grad(set_to_none=True)


@pytest.mark.parametrize("hw", [(64, 64), (64, 96)])
def test_eval_mode_full_resolution_mask(seg, hw):
    seg.eval()
    with torch.no_grad():
        out = seg(torch.randn(1, 3, *hw))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, seg.decoder.initial.out_channels, *hw)


def test_input_not_divisible_by_32_raises(seg):
    with pytest.raises(ValueError, match="divisible by 32"):
        seg(torch.randn(1, 3, 64, 80))


def test_feature_info_and_invalid_args(seg):
    assert [f["reduction"] for f in seg.feature_info] == [4, 8, 16, 32]
    with pytest.raises(ValueError, match="spatial_dims"):
        MFSF2NetSeg(spatial_dims=3)
    with pytest.raises(ValueError, match="out_channels"):
        MFSF2NetSeg(out_channels=0)
