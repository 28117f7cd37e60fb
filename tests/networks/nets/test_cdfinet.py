# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""CDFINet fidelity and contract tests. Parameter counts are computed by hand from the formulas of
``cdfinet_mfsf2net.md`` §1.2-§1.10 (every conv has a bias unless the spec says otherwise; BN has 2C parameters)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from monai_fusion.networks.nets.cdfinet import CDFINet
from tests.utils import assert_all_parameters_have_grad, unique_parameter_count

TINY = {"channels": (16, 32, 48, 64), "depths": (1, 1, 1, 1)}


def dfs_params(c: int) -> int:  # §1.6
    channel = 2 * (c * (c // 2) + c // 2) + (c * c + c)
    spatial = (4 * c * c + 2 * c) + (18 * c + 2 * c) + (2 * c * c + c) + 2 * c
    select = (9 * c + c) + (c * c + c) + 2 * c
    return channel + spatial + select


def lgfs_params(d: int, k: int = 9, n: int = 16) -> int:  # §1.3-§1.5, §1.7 (mlp_ratio 4)
    subbands = 10 * d + (k + 1) * d + (k + 1) * d + 10 * d  # depthwise 3x3, 1xk, kx1, 3x3 (bias)
    lfds = (d * d + 2 * d) + (10 * d + 2 * d) + subbands + (9 * d * d + 3 * d + 6 * d) + 30 * d + (3 * d + 1)
    lfds += 2 * d * d + 2 * d
    r, inner = math.ceil(d / 16), 2 * d
    core = 4 * (r + 2 * n) * inner + 4 * inner * r + 4 * inner + 4 * inner * n + 4 * inner
    gfds = 2 * d * d + (10 * d + 2 * d) + 2 * subbands + 2 * core + 2 * inner + 40 * d + (4 * d + 1) + 2 * d * d
    h = 4 * d
    mffn = (d * h + h + 2 * h) + (3 * 10 * d + 26 * d) + (h + 1) + 9 * h + 2 * h + (h * d + d + 2 * d)
    rest = 2 * d + (10 * d + 2 * d) + (d * d + d + 2 * d)  # pre-GFDS LayerNorm, DW + GRN, P
    return lfds + gfds + dfs_params(d) + mffn + rest


def mvba_params(c: int, heads: int = 4) -> int:  # §1.8
    q = c // heads
    mvsa = heads * 3 * q * q + sum(2 * q * (2 * i + 1) ** 2 for i in range(heads))
    sa = c * c + 3 * 49
    cs_gc = (9 * c * heads + c) + 2 * c + (c * c + c) + 2 * c
    out = (9 * c * c + c) + 2 * c + (c * c + c)
    attn = mvsa + sa + cs_gc + 3 * c * c + dfs_params(c) + out
    h = 4 * c
    cffn = (c * h + h) + (h + 1) + 10 * h + 11 * h + (h * c + c)  # registered once
    return 12 * c + 2 * c + attn + 2 * c + cffn


def down_params(a: int, b: int) -> int:  # §1.2
    return (9 * a * b + b + 2 * b) + (a * b + 2 * b)


def fsda_params(low: int, c: int) -> int:  # §1.9
    r, hid = low // 4, max(1, c // 16)
    reduce_and_freq = (low * r + 3 * r) + (36 * r * c + 3 * c)  # 1x1 + BN, DWT, 3x3 + BN (convs with bias)
    local = (9 * (c // 4) * c + 2 * c) + (2 * c * hid + hid + c)  # 3x3 s2 (no bias) + BN, CAM MLP (bias)
    attention = c * c + 2 * c * c  # Q, KV (no bias)
    gates = 3 * (c * c + 2 * c)  # FC1, FC2, Proj: 1x1 (no bias) + BN
    return reduce_and_freq + local + attention + gates


def stem_params(cin: int, s: int, c0: int) -> int:  # §1.2, both convs with bias
    return (9 * cin * s + s + 2 * s) + (9 * s * c0 + c0 + 2 * c0)


def parts(channels=(64, 128, 192, 256), depths=(1, 1, 2, 1), in_channels=3, out_channels=8) -> dict[str, int]:
    c = channels
    return {
        "stem": stem_params(in_channels, 32, c[0]),
        "stages.0": depths[0] * lgfs_params(c[0]),
        "stages.1": depths[1] * lgfs_params(c[1]),
        "stages.2": depths[2] * mvba_params(c[2]),
        "stages.3": depths[3] * mvba_params(c[3]),
        "downsamples.0": down_params(c[0], c[1]),
        "downsamples.1": down_params(c[1], c[2]),
        "downsamples.2": down_params(c[2], c[3]),
        "fsda": fsda_params(c[2], c[3]),
        "head": 2 * c[3] + c[3] * out_channels + out_channels,  # LayerNorm + Linear
    }


@pytest.fixture(scope="module")
def default_net() -> CDFINet:
    torch.manual_seed(0)
    return CDFINet(in_channels=3, out_channels=8).eval()


def test_total_parameter_count(default_net):
    # spec README: 7,531,306 unique parameters at 224^2 with 8 classes
    assert sum(parts().values()) == 7_531_306
    assert unique_parameter_count(default_net) == 7_531_306


def test_per_part_counts(default_net):
    expected = parts()
    # spec §1.10 table, in thousands, to the digits shown there
    table = {
        "stem": "19.6", "stages.0": "225", "stages.1": "745", "stages.2": "2506", "stages.3": "2207",
        "downsamples.0": "82.6", "downsamples.1": "246.7", "downsamples.2": "492.8", "fsda": "1004", "head": "2.6",
    }  # fmt: skip
    for name, shown in table.items():
        decimals = len(shown.partition(".")[2])
        assert round(expected[name] / 1000, decimals) == float(shown), name
    modules = dict(default_net.named_modules())
    for name, value in expected.items():
        if name == "head":
            got = unique_parameter_count(default_net.norm) + unique_parameter_count(default_net.head)
        else:
            got = unique_parameter_count(modules[name])
        assert got == value, name


def test_tiny_parameter_count():
    torch.manual_seed(0)
    net = CDFINet(out_channels=3, in_channels=4, **TINY)
    assert unique_parameter_count(net) == sum(parts(TINY["channels"], TINY["depths"], 4, 3).values())


def test_feature_shapes_default_widths(default_net):
    with torch.no_grad():
        features = default_net.forward_intermediates(torch.randn(1, 3, 64, 64), intermediates_only=True)
    assert [tuple(f.shape) for f in features] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 192, 4, 4), (1, 256, 2, 2)]
    assert [f["num_chs"] for f in default_net.feature_info] == [64, 128, 192, 256]
    assert [f["reduction"] for f in default_net.feature_info] == [4, 8, 16, 32]
    modules = dict(default_net.named_modules())
    assert all(f["module"] in modules for f in default_net.feature_info)


@pytest.mark.slow
def test_stage_shapes_224(default_net):
    with torch.no_grad():
        last, features = default_net.forward_intermediates(torch.randn(1, 3, 224, 224))
        logits = default_net.forward_head(last)
    assert [tuple(f.shape[1:]) for f in features] == [(64, 56, 56), (128, 28, 28), (192, 14, 14), (256, 7, 7)]
    assert logits.shape == (1, 8) and torch.isfinite(logits).all()


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(1)
    net = CDFINet(out_channels=3, **TINY)
    net(torch.randn(2, 3, 64, 64)).square().sum().backward()
    assert_all_parameters_have_grad(net)


@pytest.mark.parametrize("in_channels,size", [(1, (64, 64)), (4, (64, 96))])
def test_input_channels_and_non_square(in_channels, size):
    torch.manual_seed(2)
    net = CDFINet(in_channels=in_channels, out_channels=5, **TINY).eval()
    x = torch.randn(2, in_channels, *size)
    with torch.no_grad():
        last, features = net.forward_intermediates(x)
        logits = net.forward_head(last)
    h, w = size
    assert [tuple(f.shape[2:]) for f in features] == [(h // r, w // r) for r in (4, 8, 16, 32)]
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


def test_init(default_net):
    assert default_net.head.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(default_net.head.bias == 0)
    for m in default_net.modules():
        if isinstance(m, nn.LayerNorm):  # includes the channels-first LayerNorm2d of MVBA
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    conv = default_net.fsda.freq_conv[0]  # FSDA keeps its fan-out init: N(0, 2 / (9 * 256))
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / (9 * 256)), rel=0.05)
    a_logs = [p for n, p in default_net.named_parameters() if n.endswith("A_logs")]
    assert len(a_logs) == 4  # two SS2D cores in each of the two LGFS blocks, S4D-real init untouched
    for p in a_logs:
        torch.testing.assert_close(p.exp(), torch.arange(1, 17.0).expand_as(p))


@pytest.mark.parametrize("quirk", [False, True])
def test_fsda_reshape_quirk_flag(quirk):
    net = CDFINet(out_channels=2, fsda_reshape_quirk=quirk, **TINY)
    assert net.fsda.reshape_quirk is quirk


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"spatial_dims": 3}, "2-D"),
        ({"channels": (16, 32, 48)}, "4 entries"),
        ({"depths": (1, 1, 1)}, "4 entries"),
        ({"depths": (1, 0, 1, 1)}, "depths"),
        ({"out_channels": 0}, "out_channels"),
    ],
)
def test_invalid_arguments(kwargs, match):
    args = {**TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        CDFINet(**args)


@pytest.mark.parametrize("size", [(48, 64), (64, 80)])
def test_input_size_not_divisible_by_32(size):
    net = CDFINet(**TINY)
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.randn(1, 3, *size))


def test_channels_last_path_gives_the_same_outputs_and_gradients():
    """The default channels-last path and the input's own (NCHW) layout agree within 1e-5, forward and backward."""
    torch.manual_seed(5)
    fast = CDFINet(in_channels=3, out_channels=4, **TINY)
    plain = CDFINet(in_channels=3, out_channels=4, channels_last=False, **TINY)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, 3, 64, 64)
    stages = fast.forward_intermediates(x, intermediates_only=True)
    assert all(s.is_contiguous(memory_format=torch.channels_last) for s in stages)
    assert plain.forward_intermediates(x, intermediates_only=True)[0].is_contiguous()
    out_fast, out_plain = fast(x), plain(x)
    torch.testing.assert_close(out_fast, out_plain, atol=1e-5, rtol=1e-5)
    out_fast.square().sum().backward()
    out_plain.square().sum().backward()
    # NHWC and NCHW convolution kernels sum in different orders: fp32 gradients agree to ~3e-5 of the largest one
    scale = max(float(p.grad.abs().max()) for p in plain.parameters())
    for (name, p_fast), p_plain in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p_fast.grad, p_plain.grad, atol=1e-4 * scale, rtol=1e-4, msg=name)
