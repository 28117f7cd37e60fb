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
"""PMSF, MFSF2-Net's pyramid multi-scale fusion, and the EPSANet pyramid split attention (PSA) it ends with.

Paper: "MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion" (2025;
paper text not public, authors' repository GitHub ``men934/MFSF2-NET``, no licence); PSA from "EPSANet: An Efficient
Pyramid Squeeze Attention Block on Convolutional Neural Network" (Zhang et al., ACCV 2022). Re-implemented from the
authors' published description (figures, README); no code copied.

Shape constraints: PMSF takes a list of ``num_stages`` maps (B, in_channels, Hi, Wi) of any spatial sizes (each is
adaptive-average-pooled to ``pool_size``) and returns a (B, out_channels) vector. PSA needs ``in_channels`` and
``out_channels / len(kernel_sizes)`` divisible by every group count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["PMSF", "PSA", "PSABranchWeight"]


class PSABranchWeight(nn.Module):
    """The shared per-branch weight module of PSA (the "ECA" module of the MFSF2-Net code).

    ``w = 1 + 2 * sigmoid(Conv1d_k1(GAP(x)))``: global average pooling, then a kernel-1 Conv1d without bias over the
    channel vector (a full C x C mixing), a sigmoid and the affine map ``1 + 2 * sigma`` (so ``w`` lies in (1, 3)),
    exactly as written in the spec; the softmax across branches is applied by :class:`PSA`.

    Args:
        channels: C, the channel count of one branch.

    Input: (B, C, H, W). Output: (B, C, 1, 1).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"PSABranchWeight: channels must be >= 1, got {channels}.")
        self.mix = nn.Conv1d(channels, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gap = x.mean(dim=(2, 3)).unsqueeze(-1)  # (B, C, 1)
        return (1 + 2 * torch.sigmoid(self.mix(gap))).unsqueeze(-1)


class PSA(nn.Module):
    """EPSANet pyramid split attention as used by MFSF2-Net.

    ``len(kernel_sizes)`` parallel convs (no bias, padding k // 2) each map ``in_channels`` to
    ``out_channels / n`` channels; one shared :class:`PSABranchWeight` gives each branch a (B, C/n, 1, 1) weight, a
    softmax across the n branches normalises them per channel, each branch is multiplied by its weight, and the
    branches are concatenated in **reverse** order (largest kernel first).

    Args:
        in_channels: input channels.
        out_channels: output channels; must be divisible by ``len(kernel_sizes)``.
        kernel_sizes: odd kernel sizes of the branches.
        groups: group count of each branch conv.

    Input: (B, in_channels, H, W). Output: (B, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int = 1024,
        out_channels: int = 512,
        kernel_sizes: Sequence[int] = (3, 5, 7, 9),
        groups: Sequence[int] = (1, 4, 8, 16),
    ) -> None:
        super().__init__()
        if len(kernel_sizes) != len(groups) or len(kernel_sizes) == 0:
            raise ValueError(
                f"PSA: kernel_sizes and groups must be non-empty and of equal length, got {tuple(kernel_sizes)} "
                f"and {tuple(groups)}."
            )
        n = len(kernel_sizes)
        if out_channels < n or out_channels % n:
            raise ValueError(
                f"PSA: out_channels must be a positive multiple of len(kernel_sizes)={n}, got {out_channels}."
            )
        branch = out_channels // n
        for k, g in zip(kernel_sizes, groups):
            if k < 1 or k % 2 == 0:
                raise ValueError(f"PSA: kernel_sizes must be odd and positive, got {tuple(kernel_sizes)}.")
            if g < 1 or in_channels % g or branch % g:
                raise ValueError(
                    f"PSA: each group count must divide in_channels={in_channels} and out_channels/{n}={branch}, "
                    f"got groups={tuple(groups)}."
                )
        self.num_branches = n
        self.branch_channels = branch
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, branch, k, padding=k // 2, groups=g, bias=False)
            for k, g in zip(kernel_sizes, groups)
        )
        self.weight = PSABranchWeight(branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches: list[torch.Tensor] = []
        for conv in self.convs:
            branches.append(conv(x))
        feats = torch.stack(branches, dim=1)  # (B, n, C/n, H, W)
        weights = torch.stack([self.weight(feats[:, i]) for i in range(self.num_branches)], dim=1)  # (B, n, C/n, 1, 1)
        out = feats * torch.softmax(weights, dim=1)
        return out.flip(1).flatten(1, 2)


class PMSF(nn.Module):
    """Pyramid multi-scale fusion of the fused stage maps F1..F4 into one vector.

    Per stage: conv1x1 (no bias) + BN + ReLU, then AdaptiveAvgPool2d to ``pool_size`` (finer stages are averaged
    down, coarser ones replicated up); the stages are concatenated on channels, passed through :class:`PSA` and
    globally average-pooled.

    Args:
        in_channels: channels of every input map.
        num_stages: number of input maps.
        stage_channels: width after each per-stage 1x1 conv.
        pool_size: common spatial size of the pooled maps.
        out_channels: width of the PSA output and of the returned vector.
        kernel_sizes: PSA branch kernel sizes.
        groups: PSA branch group counts.

    Input: list of ``num_stages`` tensors (B, in_channels, Hi, Wi). Output: (B, out_channels).
    """

    def __init__(
        self,
        in_channels: int = 256,
        num_stages: int = 4,
        stage_channels: int = 256,
        pool_size: int = 14,
        out_channels: int = 512,
        kernel_sizes: Sequence[int] = (3, 5, 7, 9),
        groups: Sequence[int] = (1, 4, 8, 16),
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("num_stages", num_stages),
            ("stage_channels", stage_channels),
            ("pool_size", pool_size),
        ):
            if value < 1:
                raise ValueError(f"PMSF: {name} must be >= 1, got {value}.")
        self.num_stages = num_stages
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, stage_channels, 1, bias=False),
                nn.BatchNorm2d(stage_channels),
                nn.ReLU(inplace=True),
                nn.AdaptiveAvgPool2d(pool_size),
            )
            for _ in range(num_stages)
        )
        self.psa = PSA(num_stages * stage_channels, out_channels, kernel_sizes, groups)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if len(features) != self.num_stages:
            raise ValueError(f"PMSF expects {self.num_stages} feature maps, got {len(features)}.")
        pooled: list[torch.Tensor] = []
        for i, stage in enumerate(self.stages):
            pooled.append(stage(features[i]))
        x = torch.cat(pooled, dim=1)
        return self.psa(x).mean(dim=(2, 3))
