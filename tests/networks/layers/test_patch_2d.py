# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
from monai.networks.blocks import PatchEmbed
from monai.networks.nets.swin_unetr import PatchMergingV2

from monai_fusion.networks.layers.patch_2d import PatchEmbed2d, PatchMerging2d


@pytest.mark.parametrize("hw", [(8, 12), (9, 7)])
def test_patch_embed_2d_is_monai_patch_embed(hw):
    torch.manual_seed(0)
    ours = PatchEmbed2d(4, 3, 8)
    monai = PatchEmbed(4, 3, 8, spatial_dims=2)
    monai.load_state_dict(ours.state_dict())  # same parameter names
    with torch.no_grad():
        ours.norm.weight.normal_()
        monai.norm.weight.copy_(ours.norm.weight)
    x = torch.randn(2, 3, *hw)
    torch.testing.assert_close(ours(x), monai(x), rtol=0, atol=0)
    scripted = torch.jit.script(ours)
    torch.testing.assert_close(scripted(x), monai(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("hw", [(4, 6), (5, 3)])
def test_patch_merging_2d_is_monai_patch_merging(hw):
    torch.manual_seed(0)
    ours = PatchMerging2d(4)
    monai = PatchMergingV2(4, spatial_dims=2)
    monai.load_state_dict(ours.state_dict())
    x = torch.randn(2, *hw, 4)
    expected = monai(x)
    assert expected.shape == (2, (hw[0] + 1) // 2, (hw[1] + 1) // 2, 8)
    torch.testing.assert_close(ours(x), expected, rtol=0, atol=0)
    torch.testing.assert_close(torch.jit.script(ours)(x), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="channels-last"):
        ours(torch.randn(2, 4, 4))
