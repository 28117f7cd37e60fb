# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Tests of MedMamba (spec ``hifuse_medmamba.md`` §2.1-2.5)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from monai_fusion.networks.nets.medmamba import MedMamba, medmamba_base, medmamba_small, medmamba_tiny

TINY = {"channels": (8, 16, 32, 64), "depths": (1, 1, 2, 1), "d_state": 4}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "factory,expected",
    [(medmamba_tiny, 14_457_222), (medmamba_small, 18_625_158), (medmamba_base, 39_864_838)],
)
def test_parameter_count_matches_official(factory, expected: int) -> None:
    with torch.device("meta"):  # shapes only: skips the initialisation work
        model = factory(out_channels=6)
    assert _count(model) == expected


@pytest.mark.slow
def test_tiny_stage_shapes_at_224() -> None:
    torch.manual_seed(0)
    model = medmamba_tiny().eval()
    with torch.no_grad():
        last, features = model.forward_intermediates(torch.randn(1, 3, 224, 224))
        logits = model.forward_head(last)
    assert [tuple(f.shape) for f in features] == [(1, 96, 56, 56), (1, 192, 28, 28), (1, 384, 14, 14), (1, 768, 7, 7)]
    assert logits.shape == (1, 6)


def test_tiny_config_forward_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    # patch_size 2 so that the last stage is 2x2: at L = 1 the scan does not depend on A (h_{-1} = 0)
    model = MedMamba(2, 3, 5, channels=(8, 16, 32), depths=(1, 2, 1), d_state=4, patch_size=2, drop_path_rate=0.0)
    out = model(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("in_channels", [1, 4])
def test_in_channels(in_channels: int) -> None:
    torch.manual_seed(0)
    model = MedMamba(2, in_channels, 3, **TINY).eval()
    with torch.no_grad():
        assert model(torch.randn(1, in_channels, 32, 32)).shape == (1, 3)


def test_non_square_input_and_feature_info() -> None:
    torch.manual_seed(0)
    model = MedMamba(2, 3, 2, **TINY).eval()
    with torch.no_grad():
        last, features = model.forward_intermediates(torch.randn(1, 3, 64, 96))
        out = model.forward_head(last)
    assert out.shape == (1, 2)
    assert [tuple(f.shape) for f in features] == [(1, 8, 16, 24), (1, 16, 8, 12), (1, 32, 4, 6), (1, 64, 2, 3)]
    assert [info["num_chs"] for info in model.feature_info] == [8, 16, 32, 64]
    assert [info["reduction"] for info in model.feature_info] == [4, 8, 16, 32]
    modules = dict(model.named_modules())
    for info, feature in zip(model.feature_info, features):
        assert info["module"] in modules
        assert 64 // info["reduction"] == feature.shape[2] and 96 // info["reduction"] == feature.shape[3]


def test_patch_merging_gather_order() -> None:
    """Spec §2.1: x0 (even, even), x1 (odd, even), x2 (even, odd), x3 (odd, odd) over (H, W); LN(4C), Linear."""
    torch.manual_seed(0)
    merge = MedMamba(2, 3, 2, **TINY).downsamples[0]
    with torch.no_grad():
        merge.norm.weight.normal_()
        merge.norm.bias.normal_()
        x = torch.randn(2, 4, 6, 8)
        cat = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        expected = nn.functional.layer_norm(cat, (32,), merge.norm.weight, merge.norm.bias) @ merge.reduction.weight.t()
        torch.testing.assert_close(merge(x), expected)
    assert merge.reduction.bias is None and _count(merge) == 2 * 32 + 32 * 16


def test_initialisation() -> None:
    torch.manual_seed(0)
    model = MedMamba(2, 3, 4, channels=(64, 128), depths=(1, 1))
    assert torch.all(model.head.bias == 0) and abs(model.head.weight.std().item() - 0.02) < 0.005
    conv = model.stages[0][0].conv_branch[1]  # 32 -> 32, 3x3: kaiming normal, fan_out = 32 * 9
    assert abs(conv.weight.std().item() - math.sqrt(2 / (32 * 9))) < 0.01
    core = model.stages[0][0].ssm.core
    assert core.x_proj_weight.std() > 0.04  # keeps the Linear default U(+-1/sqrt(64)), not trunc-normal 0.02
    assert torch.all(model.patch_norm.weight == 1) and torch.all(model.patch_norm.bias == 0)


def test_drop_path_linspace() -> None:
    model = MedMamba(2, 3, 2, channels=(8, 16), depths=(2, 3), drop_path_rate=0.4)
    rates = [block.drop_path.drop_prob for stage in model.stages for block in stage]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_eval_deterministic_and_trace() -> None:
    torch.manual_seed(0)
    model = MedMamba(2, 3, 2, channels=(8, 16), depths=(1, 1), d_state=2).eval()
    x = torch.randn(1, 3, 8, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.testing.assert_close(traced(x), model(x))


def test_invalid_arguments_and_inputs() -> None:
    with pytest.raises(ValueError, match="spatial_dims"):
        MedMamba(3, 1, 2)
    with pytest.raises(ValueError, match="twice"):
        MedMamba(2, 1, 2, channels=(8, 24), depths=(1, 1))
    with pytest.raises(ValueError, match="depths"):
        MedMamba(2, 1, 2, channels=(8, 16), depths=(1,))
    with pytest.raises(ValueError, match="in_channels"):
        MedMamba(2, 0, 2)
    model = MedMamba(2, 3, 2, **TINY)
    with pytest.raises(ValueError, match="divisible by 32"):
        model(torch.randn(1, 3, 33, 32))


def test_channels_last_input_gives_the_same_outputs_and_gradients() -> None:
    """The SS-Conv-SSM convolutions run on the channels-last view of the tokens; either input layout gives the same
    result within 1e-5."""
    torch.manual_seed(6)
    net = MedMamba(in_channels=3, out_channels=4, channels=(8, 16, 32, 64), drop_path_rate=0.0)
    x = torch.randn(2, 3, 64, 64)
    grads = []
    outs = []
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        net.zero_grad()
        out = net(inp)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, atol=1e-5, rtol=1e-4)
