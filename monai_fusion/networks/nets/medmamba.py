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
"""MedMamba: a hierarchical VMamba-style classifier built from SS-Conv-SSM blocks.

Yue & Li, "MedMamba: Vision Mamba for Medical Image Classification", arXiv:2403.03849. Original code:
https://github.com/YubiaoYue/MedMamba (no licence file, so none of it is used here). Re-implemented from the paper's
description; no code copied. The selective scan runs on CPU through the pure-PyTorch backends of
``monai_fusion.networks.ops.selective_scan``.

Spatial shape constraints: 2-D only; H and W divisible by ``patch_size * 2 ** (len(channels) - 1)`` (32 for the
default configuration).

TorchScript: ``torch.jit.script`` (what ``monai.bundle ckpt_export`` does without ``--use_trace``) and
``torch.jit.trace`` both work; the scripted and traced selective scan runs the plain-tensor blocked path of
``selective_scan`` (same results as the eager backends within float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.layers import trunc_normal_
from torch import nn

from monai_fusion.networks.blocks.medmamba.ss_conv_ssm import SSConvSSMBlock
from monai_fusion.networks.layers.patch_2d import PatchMerging2d
from monai_fusion.networks.ops.selective_scan import SCAN_BACKENDS
from monai_fusion.networks.utils import check_network_args, check_stage_args, take_indices

__all__ = ["MedMamba", "medmamba_tiny", "medmamba_small", "medmamba_base"]


class MedMamba(nn.Module):
    """MedMamba image classifier (Yue & Li, arXiv:2403.03849).

    Patch embedding (conv ``patch_size`` x ``patch_size``, stride ``patch_size``, then LayerNorm), one stage of
    ``SSConvSSMBlock`` per entry of ``channels``/``depths`` with a Swin patch merging (MONAI's ``PatchMergingV2`` as
    ``PatchMerging2d``: 2x2 gather, LayerNorm(4C), Linear(4C -> 2C)) after every stage but the last, then global
    average pooling and a linear head. There is no final norm. The blocks work channels-last; stage outputs are
    returned channels-first.

    Args:
        spatial_dims: must be 2.
        in_channels: input image channels.
        out_channels: number of classes.
        channels: per-stage widths; each must be even and twice the previous one.
        depths: number of blocks per stage.
        d_state: N, the SSM state size.
        patch_size: side and stride of the patch-embedding conv.
        drop_path_rate: stochastic depth, increasing linearly from 0 to this value over all blocks.
        scan_backend: backend of ``selective_scan``: ``"auto"``, ``"reference"``, ``"torch"`` or ``"cuda"``.

    Spatial shape constraints:
        Input (B, in_channels, H, W) with H and W divisible by ``patch_size * 2 ** (len(channels) - 1)``
        (32 by default); stage i has spatial size (H, W) / (patch_size * 2 ** i).

    Examples::

        >>> net = medmamba_tiny(in_channels=3, out_channels=6)
        >>> net(torch.randn(2, 3, 224, 224)).shape
        torch.Size([2, 6])
        >>> stages = net.forward_intermediates(torch.randn(1, 3, 224, 224), intermediates_only=True)
        >>> [tuple(f.shape[1:]) for f in stages]
        [(96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7)]
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 6,
        *,
        channels: tuple[int, ...] | list[int] = (96, 192, 384, 768),
        depths: tuple[int, ...] | list[int] = (2, 2, 4, 2),
        d_state: int = 16,
        patch_size: int = 4,
        drop_path_rate: float = 0.1,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        check_network_args("MedMamba", spatial_dims, in_channels, out_channels)
        channels, depths = check_stage_args("MedMamba", channels, depths, doubling=True)
        if patch_size < 1:
            raise ValueError(f"patch_size must be a positive integer, got {patch_size}.")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}.")
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f"scan_backend must be one of {SCAN_BACKENDS}, got {scan_backend!r}.")

        self.size_divisor = patch_size * 2 ** (len(channels) - 1)
        self.patch_embed = nn.Conv2d(in_channels, channels[0], patch_size, stride=patch_size)
        self.patch_norm = nn.LayerNorm(channels[0])
        num_blocks = sum(depths)
        rates = [drop_path_rate * i / max(num_blocks - 1, 1) for i in range(num_blocks)]  # linspace(0, rate)
        self.stages = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        start = 0
        for i, (width, depth) in enumerate(zip(channels, depths)):
            blocks = [
                SSConvSSMBlock(width, d_state=d_state, drop_path=rates[start + j], scan_backend=scan_backend)
                for j in range(depth)
            ]
            self.stages.append(nn.Sequential(*blocks))
            if i < len(channels) - 1:
                self.downsamples.append(PatchMerging2d(width))
            start += depth
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[-1], out_channels)
        #: timm-style description of the intermediates returned by :meth:`forward_intermediates`.
        self.feature_info = [
            {"num_chs": c, "reduction": patch_size * 2**i, "module": f"stages.{i}"} for i, c in enumerate(channels)
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        """Linear: trunc-normal(0.02), bias 0; LayerNorm: 1/0; every Conv2d: kaiming-normal(fan_out, relu).

        The raw SSM parameters (x_proj, dt_proj, A_log, D) keep the initialisation of ``SS2DCore``.
        """
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stage outputs, each channels-first (B, channels[i], H / r_i, W / r_i) with r_i = patch_size * 2**i."""
        if x.dim() != 4:
            raise ValueError(f"MedMamba expects a (B, C, H, W) input, got shape {list(x.shape)}.")
        if not torch.jit.is_tracing() and (x.shape[2] % self.size_divisor or x.shape[3] % self.size_divisor):
            raise ValueError(
                f"MedMamba needs H and W divisible by {self.size_divisor} (patch_size * 2 ** (stages - 1)), "
                f"got {list(x.shape[2:])}; resize or pad the input."
            )
        x = self.patch_norm(self.patch_embed(x).permute(0, 2, 3, 1))
        features = []
        # stage i then downsample i, zipped (TorchScript cannot index a ModuleList with a loop variable); then the
        # last stage
        for stage, downsample in zip(self.stages, self.downsamples):
            x = stage(x)
            features.append(x.permute(0, 3, 1, 2))
            x = downsample(x)
        x = self.stages[-1](x)
        features.append(x.permute(0, 3, 1, 2))
        return features

    def forward_intermediates(
        self, x: torch.Tensor, indices: int | Sequence[int] | None = None, intermediates_only: bool = False
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The stage outputs (described by ``feature_info``), as timm's ``forward_intermediates``.

        The subset of timm's signature implemented here: ``indices`` (None = all, n = the last n, or a list of
        indices) and ``intermediates_only``; no ``norm``, ``stop_early`` or ``output_fmt`` (always NCHW).

        Args:
            x: (B, in_channels, H, W), H and W divisible by ``self.size_divisor``.
            indices: which stage outputs to return.
            intermediates_only: return only the list.

        Returns:
            ``(forward_features(x), [features[i] for i in indices])``, or only the list with
            ``intermediates_only=True``.
        """
        features = self._forward_stages(x)
        taken = [features[i] for i in take_indices("MedMamba", len(features), indices)]
        if intermediates_only:
            return taken
        return features[-1], taken

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage output, (B, channels[-1], H / r, W / r) with r = patch_size * 2 ** (len(channels) - 1).

        Args:
            x: (B, in_channels, H, W), H and W divisible by ``self.size_divisor``.
        """
        return self._forward_stages(x)[-1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool -> Linear (no final norm) on the output of :meth:`forward_features`.

        Args:
            x: (B, channels[-1], h, w) map from :meth:`forward_features`.
            pre_logits: return the pooled features (B, channels[-1]) instead of the logits.

        Returns:
            (B, out_channels) logits, or (B, channels[-1]) features with ``pre_logits=True``.
        """
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def medmamba_tiny(**kwargs: Any) -> MedMamba:
    """MedMamba-T: depths (2, 2, 4, 2), channels 96-768; 14,457,222 parameters at out_channels=6."""
    model_args = {"channels": (96, 192, 384, 768), "depths": (2, 2, 4, 2)}
    return MedMamba(**dict(model_args, **kwargs))


def medmamba_small(**kwargs: Any) -> MedMamba:
    """MedMamba-S: depths (2, 2, 8, 2), channels 96-768; 18,625,158 parameters at out_channels=6."""
    model_args = {"channels": (96, 192, 384, 768), "depths": (2, 2, 8, 2)}
    return MedMamba(**dict(model_args, **kwargs))


def medmamba_base(**kwargs: Any) -> MedMamba:
    """MedMamba-B: depths (2, 2, 12, 2), channels 128-1024; 39,864,838 parameters at out_channels=6."""
    model_args = {"channels": (128, 256, 512, 1024), "depths": (2, 2, 12, 2)}
    return MedMamba(**dict(model_args, **kwargs))
