# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch
from monai.networks.layers import DropPath
from monai.networks.nets.swin_unetr import PatchMergingV2
from torch import nn

from monai_fusion.networks.blocks.hifuse.hff import HFFBlock
from monai_fusion.networks.nets.hifuse import HiFuse, hifuse_base, hifuse_small, hifuse_tiny
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count

# channels must double per stage; hff_reduction 4 keeps the channel-attention bottleneck >= 1 at width 8
TINY = {"channels": (8, 16, 32, 64), "depths": (1, 2, 1, 2), "num_heads": (1, 2, 2, 4), "hff_reduction": 4}

# spec §1.6, live parameters at 7 classes (the released total minus its never-used modules)
LIVE_PARAMS = [
    (hifuse_tiny, False, 118_086_497),
    (hifuse_small, False, 121_664_273),
    (hifuse_base, False, 132_397_601),
    (hifuse_tiny, True, 54_673_217),
    (hifuse_small, True, 58_250_993),
    (hifuse_base, True, 68_984_321),
]


@pytest.mark.parametrize("factory, depthwise, expected", LIVE_PARAMS)
def test_live_parameter_counts_match_the_released_model(factory, depthwise, expected):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        net = factory(out_channels=7, irmlp_depthwise=depthwise)
    assert unique_parameter_count(net) == expected


def test_default_is_the_released_dense_irmlp_and_stage4_keeps_its_shift():
    with torch.device("meta"):
        net = hifuse_tiny()
    assert net.hff[3].irmlp.conv1.groups == 1
    shifts = [
        [blk.attn.shift_size for blk in stage if not isinstance(blk, PatchMergingV2)] for stage in net.global_stages
    ]
    assert shifts == [[0, 3]] * 4


def test_tiny_variant_at_224_stage_shapes():
    torch.manual_seed(0)
    net = hifuse_tiny(irmlp_depthwise=True).eval()
    assert unique_parameter_count(net) == 54_673_217
    with torch.no_grad():
        last, features = net.forward_intermediates(torch.randn(1, 3, 224, 224))
        logits = net.forward_head(last)
    assert [tuple(f.shape) for f in features] == [(1, 96, 56, 56), (1, 192, 28, 28), (1, 384, 14, 14), (1, 768, 7, 7)]
    assert logits.shape == (1, 7) and torch.isfinite(logits).all()


@pytest.mark.parametrize("window_size", [7, 4])
def test_forward_backward_non_square_every_parameter_gets_a_gradient(window_size):
    torch.manual_seed(1)
    net = HiFuse(in_channels=3, out_channels=5, window_size=window_size, drop_path_rate=0.1, **TINY)
    out = net(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 5)
    (out * torch.randn_like(out)).sum().backward()
    assert_all_parameters_have_grad(net)


def test_other_input_size_and_single_channel():
    torch.manual_seed(2)
    net = HiFuse(in_channels=1, out_channels=2, irmlp_depthwise=True, **TINY).eval()
    with torch.no_grad():
        features = net.forward_intermediates(torch.randn(1, 1, 96, 128), intermediates_only=True)
    assert [tuple(f.shape) for f in features] == [(1, 8, 24, 32), (1, 16, 12, 16), (1, 32, 6, 8), (1, 64, 3, 4)]
    assert net.forward_head(features[-1]).shape == (1, 2)
    for info, f in zip(net.feature_info, features):
        assert info["num_chs"] == f.shape[1] and info["reduction"] == 96 // f.shape[2]
        assert isinstance(net.get_submodule(info["module"]), HFFBlock)
    assert [i["reduction"] for i in net.feature_info] == [4, 8, 16, 32]


def test_traced_model_matches_eager():
    torch.manual_seed(3)
    net = HiFuse(out_channels=3, **TINY).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        traced = torch.jit.trace(net, x, check_trace=False)
        torch.testing.assert_close(traced(x), net(x))


def test_patch_merging_gathers_in_the_spec_order():
    """Spec §1.3: concat of (even row, even col), (odd row, even col), (even row, odd col), (odd row, odd col)."""
    merge = PatchMergingV2(3, spatial_dims=2)
    seen = []
    merge.norm.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    x = torch.randn(2, 4, 6, 3)
    merge(x)
    expected = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
    torch.testing.assert_close(seen[0], expected)


def test_initialisation_branches_vs_hff():
    torch.manual_seed(4)
    net = HiFuse(**dict(TINY, channels=(32, 64, 128, 256), num_heads=(1, 2, 4, 8)))
    stem = net.local_stem[0]
    assert 0.17 < stem.weight.std().item() < 0.23 and not stem.bias.any()  # branch conv: trunc-normal 0.2
    pw = net.local_stages[3][2].pwconv
    assert 0.015 < pw.weight.std().item() < 0.025 and not pw.bias.any()  # branch Linear: trunc-normal 0.02
    assert not net.head.bias.any() and 0.015 < net.head.weight.std().item() < 0.025
    conv2 = net.hff[3].irmlp.conv2  # HFF keeps PyTorch's default kaiming-uniform init
    assert conv2.weight.abs().max().item() <= conv2.in_channels**-0.5
    assert net.hff[3].w_local.conv.bias.any()
    assert 0.015 < net.global_stages[3][1].attn.relative_position_bias_table.std().item() < 0.025


def test_drop_path_schedule():
    net = HiFuse(drop_path_rate=0.3, **TINY)
    rates = [m.drop_prob for stage in net.local_stages for m in stage.modules() if isinstance(m, DropPath)]
    assert rates == pytest.approx([i * 0.3 / 5 for i in range(6)])
    assert all(m.drop_prob == 0.0 for m in net.hff.modules() if isinstance(m, DropPath))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spatial_dims": 3}, "spatial_dims"),
        ({"channels": (8, 16, 24, 32)}, "twice"),
        ({"num_heads": (3, 2, 2, 4)}, "num_heads"),
        ({"depths": (1, 1, 1)}, "equal length"),
        ({"hff_reduction": 16}, "hff_reduction"),
        ({"drop_path_rate": 1.0}, "drop_path_rate"),
        ({"out_channels": 0}, "out_channels"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HiFuse(**dict(TINY, **kwargs))


def test_input_not_divisible_by_32_is_rejected():
    net = HiFuse(**TINY)
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.randn(1, 3, 64, 80))
    with pytest.raises(ValueError, match="B, C, H, W"):
        net(torch.randn(3, 64, 64))


def test_unused_module_types_are_absent():
    with torch.device("meta"):
        net = hifuse_tiny()
    assert not any(isinstance(m, nn.Dropout) and m.p > 0 for m in net.modules())
    assert sum(isinstance(m, nn.Linear) and m.out_features == 7 for m in net.modules()) == 1  # one head only
