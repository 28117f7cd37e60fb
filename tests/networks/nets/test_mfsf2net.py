# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import pytest
import torch

from monai_fusion.networks.nets.mfsf2net import MFSF2Net
from tests.utils import assert_all_parameters_have_grad, skip_if_quick, unique_parameter_count


@pytest.fixture(scope="module")
def net() -> MFSF2Net:
    torch.manual_seed(0)
    return MFSF2Net(out_channels=7).eval()


@pytest.fixture(scope="module")
def multimodal() -> MFSF2Net:
    torch.manual_seed(0)
    return MFSF2Net(out_channels=5, rcm_slices=2, drop_path_rate=0.0)


def _mfaf_params(res: int, pvt: int, f: int = 256) -> int:
    return (res * f + f) + (pvt * f * 9 + f) + 4 * (2 * f) + 2 * (2 * f * f // 16) + 2 * (2 * f * f + f) + (f + 1)


def test_parameter_count_matches_spec(net):
    parts = {
        "resnet": unique_parameter_count(net.encoder.resnet),
        "pvt": unique_parameter_count(net.encoder.pvt),
        "mfaf": [unique_parameter_count(m) for m in net.encoder.mfaf],
        "pmsf": unique_parameter_count(net.pmsf),
        "head": unique_parameter_count(net.head),
    }
    assert parts["resnet"] == 23_508_032  # torchvision/timm ResNet-50 without fc (spec: 23.51 M)
    assert parts["pvt"] == 24_849_856  # PVTv2-b2 without head (spec: 24.85 M)
    assert parts["mfaf"] == [_mfaf_params(r, p) for r, p in [(256, 64), (512, 128), (1024, 320), (2048, 512)]]
    assert [round(n / 1e6, 2) for n in parts["mfaf"]] == [0.49, 0.71, 1.28, 1.99]
    psa = sum(k * k * (1024 // g) * 128 for k, g in [(3, 1), (5, 4), (7, 8), (9, 16)]) + 128 * 128
    assert parts["pmsf"] == 4 * (256 * 256 + 512) + psa
    assert parts["head"] == (3072 * 1024 + 1024) + 2 * 1024 + (1024 * 7 + 7)
    assert sum(parts["mfaf"]) + parts["resnet"] + parts["pvt"] + parts["pmsf"] + parts["head"] == 59_729_419
    assert unique_parameter_count(net) == 59_729_419  # no dead second PVT, nothing else
    assert net.encoder.rcm_fuse is None


def test_backbone_configs_match_spec(net):
    res, pvt = net.encoder.resnet, net.encoder.pvt
    assert res.feature_info.channels() == [256, 512, 1024, 2048]
    assert res.feature_info.reduction() == [4, 8, 16, 32]
    assert pvt.feature_info.channels() == [64, 128, 320, 512]
    assert pvt.feature_info.reduction() == [4, 8, 16, 32]
    stages = [pvt.stages_0, pvt.stages_1, pvt.stages_2, pvt.stages_3]
    assert [len(s.blocks) for s in stages] == [3, 4, 6, 3]
    assert [s.blocks[0].attn.num_heads for s in stages] == [1, 2, 5, 8]
    assert [s.blocks[0].mlp.fc1.out_features // s.blocks[0].mlp.fc1.in_features for s in stages] == [8, 8, 4, 4]
    assert [s.blocks[0].attn.sr.stride[0] for s in stages[:3]] == [8, 4, 2]
    assert not hasattr(stages[3].blocks[0].attn, "sr") or stages[3].blocks[0].attn.sr is None
    assert all(s.blocks[0].attn.q.bias is not None for s in stages)
    assert {s.norm.eps for s in stages} == {s.blocks[0].norm1.eps for s in stages} == {1e-6}
    drop = [b.drop_path1.drop_prob if hasattr(b.drop_path1, "drop_prob") else 0.0 for s in stages for b in s.blocks]
    torch.testing.assert_close(torch.tensor(drop), torch.linspace(0, 0.1, 16))
    assert pvt.patch_embed.proj.kernel_size == (7, 7) and pvt.patch_embed.proj.stride == (4, 4)
    assert net.feature_info == [
        {"num_chs": 256, "reduction": r, "module": f"encoder.mfaf.{i}"} for i, r in enumerate((4, 8, 16, 32))
    ]


@skip_if_quick
def test_forward_224(net):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        res, pvt, fused = net.encoder(x)
        logits = net.forward_classifier(fused, res[-1], pvt[-1])
    assert [tuple(t.shape[1:]) for t in res] == [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]
    assert [tuple(t.shape[1:]) for t in pvt] == [(64, 56, 56), (128, 28, 28), (320, 14, 14), (512, 7, 7)]
    assert [tuple(t.shape[1:]) for t in fused] == [(256, 56, 56), (256, 28, 28), (256, 14, 14), (256, 7, 7)]
    assert logits.shape == (1, 7) and torch.isfinite(logits).all()


def test_multimodal_gradients_reach_every_parameter(multimodal):
    torch.manual_seed(0)
    multimodal.train()
    x, rcm = torch.randn(2, 3, 64, 64), torch.randn(2, 2, 3, 64, 64)
    out = multimodal(x, rcm)
    assert out.shape == (2, 5)
    out.square().mean().backward()
    assert_all_parameters_have_grad(multimodal)
    multimodal.zero_grad(set_to_none=True)


def test_multimodal_and_single_modality_calls(multimodal):
    torch.manual_seed(0)
    multimodal.eval()
    x, rcm = torch.randn(1, 3, 32, 32), torch.randn(1, 2, 3, 32, 32)
    conv = multimodal.encoder.rcm_fuse
    assert conv.kernel_size == (2, 1, 1)
    collapsed = torch.einsum("ocn,bnchw->bohw", conv.weight[..., 0, 0], rcm) + conv.bias[:, None, None]
    torch.testing.assert_close(multimodal.encoder._collapse_rcm(x, rcm), collapsed)
    with torch.no_grad():
        single = multimodal(x)  # the same image feeds both branches
        fused = multimodal(x, rcm)
        features = multimodal.forward_intermediates(x, intermediates_only=True)
    assert single.shape == fused.shape == (1, 5)
    assert not torch.allclose(single, fused)
    assert [tuple(f.shape) for f in features] == [(1, 256, 32 // s, 32 // s) for s in (4, 8, 16, 32)]


@pytest.mark.parametrize("shape", [(2, 3, 2, 64, 64), (2, 2, 64, 64), (1, 2, 3, 64, 64)])
def test_wrong_rcm_layout_raises(multimodal, shape):
    with pytest.raises(ValueError, match=r"\(B, N, C, H, W\)") as err:
        multimodal(torch.randn(2, 3, 64, 64), torch.randn(*shape))
    assert str(list(shape)) in str(err.value)


def test_rcm_without_rcm_slices_raises(net):
    with pytest.raises(ValueError, match="rcm_slices=None"):
        net(torch.randn(2, 3, 64, 64), torch.randn(2, 4, 3, 64, 64))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spatial_dims": 3}, "spatial_dims"),
        ({"out_channels": 0}, "out_channels"),
        ({"dropout": 1.0}, "dropout"),
        ({"rcm_slices": 0}, "rcm_slices"),
        ({"drop_path_rate": -0.1}, "drop_path_rate"),
    ],
)
def test_invalid_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MFSF2Net(**kwargs)
