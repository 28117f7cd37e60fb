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
"""Tests of MedMamba's SS-Conv-SSM block (spec ``hifuse_medmamba.md`` §2.2)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monai_fusion.networks.blocks.medmamba.ss_conv_ssm import SSConvSSMBlock


def _randomise_batchnorm(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()


def test_forward_matches_manual_split_shuffle_residual() -> None:
    torch.manual_seed(0)
    c = 8
    block = SSConvSSMBlock(c, d_state=4, scan_backend="reference")
    _randomise_batchnorm(block)
    block.eval()
    x = torch.randn(2, 3, 5, c)
    y = block(x)
    assert y.shape == x.shape
    with torch.no_grad():
        left, right = x[..., : c // 2], x[..., c // 2 :]
        conv = block.conv_branch(left.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        ssm = block.ssm(block.ssm_norm(right))
        expected = torch.empty_like(x)
        for i in range(c // 2):  # shuffled position 2i <- conv channel i, 2i+1 <- SSM channel i; then + input
            expected[..., 2 * i] = conv[..., i] + x[..., 2 * i]
            expected[..., 2 * i + 1] = ssm[..., i] + x[..., 2 * i + 1]
    torch.testing.assert_close(y.detach(), expected)


def test_ssm_norm_eps_and_conv_branch_layout() -> None:
    block = SSConvSSMBlock(16)
    assert block.ssm_norm.eps == 1e-5 and block.ssm_norm.normalized_shape == (8,)
    kinds = [type(m).__name__ for m in block.conv_branch]
    assert kinds == ["BatchNorm2d", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "ReLU"]
    assert [m.kernel_size for m in block.conv_branch if isinstance(m, nn.Conv2d)] == [(3, 3), (3, 3), (1, 1)]


def test_parameter_counts_at_c96() -> None:
    c, h = 96, 48
    conv_by_hand = 2 * h + (h * h * 9 + h) + 2 * h + (h * h * 9 + h) + 2 * h + (h * h + h)
    assert conv_by_hand == 44208
    block = SSConvSSMBlock(c)
    assert sum(p.numel() for p in block.conv_branch.parameters()) == conv_by_hand
    ss2d = 36480  # see test_ss2d.py
    assert sum(p.numel() for p in block.parameters()) == conv_by_hand + ss2d + 2 * h  # + ssm_norm


def test_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    block = SSConvSSMBlock(8, d_state=4, drop_path=0.0, scan_backend="reference")
    block(torch.randn(2, 3, 4, 8)).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_drop_path_only_in_training() -> None:
    torch.manual_seed(0)
    block = SSConvSSMBlock(8, d_state=4, drop_path=0.5, scan_backend="reference").eval()
    x = torch.randn(2, 2, 3, 8)
    reference = SSConvSSMBlock(8, d_state=4, drop_path=0.0, scan_backend="reference").eval()
    reference.load_state_dict(block.state_dict())
    torch.testing.assert_close(block(x), reference(x))


def test_invalid_channels() -> None:
    with pytest.raises(ValueError, match="channels"):
        SSConvSSMBlock(7)
    with pytest.raises(ValueError, match="drop_path"):
        SSConvSSMBlock(8, drop_path=1.0)
