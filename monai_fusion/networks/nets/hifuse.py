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
"""HiFuse: a local (convolution) branch, a global (shifted-window attention) branch and a fusion path of HFF blocks.

Huo et al., "HiFuse: Hierarchical multi-scale feature fusion network for medical image classification", Biomedical
Signal Processing and Control 87 (2024) 105534, arXiv:2209.10218. Original code: github huoxiangzuo/HiFuse (MIT);
Re-implemented from the paper's description; no code copied. Differences from the released code, none of which changes
the computation at 224 x 224: the token -> map reshapes are derived from the input (any H, W divisible by 32), and the
modules the released forward pass never uses (the global branch's final norm and head, every global block's ``norm2``,
the dead HFF convs and norms) are not built.

Spatial shape constraints: 2-D only; H and W divisible by ``patch_size * 2 ** (len(channels) - 1)`` (32 by default).

TorchScript: ``torch.jit.script`` (what ``monai.bundle ckpt_export`` does without ``--use_trace``) and
``torch.jit.trace`` both work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.layers import trunc_normal_
from torch import nn

from monai_fusion.networks.blocks.hifuse.hff import HFFBlock
from monai_fusion.networks.blocks.hifuse.hifuse_branches import HiFuseGlobalBlock, HiFuseLocalBlock
from monai_fusion.networks.layers.layer_norm_nd import LayerNorm2d
from monai_fusion.networks.layers.patch_2d import PatchEmbed2d, PatchMerging2d
from monai_fusion.networks.utils import check_network_args, check_stage_args, take_indices

__all__ = ["HiFuse", "hifuse_tiny", "hifuse_small", "hifuse_base"]


class HiFuse(nn.Module):
    """HiFuse image classifier (Huo et al., BSPC 2024, arXiv:2209.10218).

    Three paths at strides ``patch_size * 2**i``:

    - local branch (channels-first): stem conv ``patch_size`` x ``patch_size`` stride ``patch_size`` + LayerNorm;
      before stages 2..n a LayerNorm + conv2x2 stride 2; ``depths[i]`` ``HiFuseLocalBlock`` per stage;
    - global branch (channels-last): patch embedding (same conv + LayerNorm eps 1e-5, MONAI's ``PatchEmbed`` as
      :class:`~monai_fusion.networks.layers.patch_2d.PatchEmbed2d`); at the start of stages 2..n a Swin patch merging
      (MONAI's ``PatchMergingV2`` as :class:`~monai_fusion.networks.layers.patch_2d.PatchMerging2d`);
      ``depths[i]`` ``HiFuseGlobalBlock`` per stage, odd-indexed blocks shifted by ``window_size // 2`` (also at the
      last stage, as in the released code);
    - fusion path: one ``HFFBlock`` per stage on (local, global, previous HFF output).

    The head is global average pooling of the last HFF output, LayerNorm (eps 1e-6) and a Linear layer.
    Initialisation follows the released code: in the two branches and the head, Linear trunc-normal(0.02) with bias 0,
    LayerNorm 1/0 and Conv2d trunc-normal(0.2) with bias 0; the HFF blocks keep PyTorch's default initialisation.

    IRMLP choice: ``irmlp_depthwise`` defaults to False, a dense 3x3 conv1 in every IRMLP, because that is the network
    the public code builds (its conv wrapper ignores the ``groups`` argument), hence the one anybody re-training HiFuse
    from the repository has run, e.g. as a baseline; the default reproduces it. It costs 118,086,497 parameters for
    HiFuse-T at 7 classes, 47.8 M of them in the stage-4 conv1 alone. ``irmlp_depthwise=True`` builds the depthwise
    conv1 that the paper's "inverted residual MLP" and the code's ignored ``groups`` argument intend (54,673,217
    parameters for HiFuse-T): a lighter model, but not the one behind the released code's results.

    Args:
        spatial_dims: must be 2.
        in_channels: input image channels.
        out_channels: number of classes.
        channels: per-stage widths; each even and twice the previous one.
        depths: number of local and of global blocks per stage.
        num_heads: attention heads per stage; each must divide the stage width.
        window_size: side of the attention window.
        patch_size: side and stride of the two stems.
        hff_reduction: bottleneck ratio of the HFF channel attention; ``channels[0] // hff_reduction`` must be >= 1.
        irmlp_depthwise: make the IRMLP 3x3 conv depthwise (see above).
        drop_path_rate: stochastic depth of the local and global blocks, rising linearly from 0 to this value over
            the blocks of each branch (same schedule for both). The HFF blocks use none, as in the released code.

    Spatial shape constraints:
        Input (B, in_channels, H, W) with H and W divisible by ``patch_size * 2 ** (len(channels) - 1)``
        (32 by default); stage i has spatial size (H, W) / (patch_size * 2 ** i).

    Examples::

        >>> net = hifuse_tiny(in_channels=3, out_channels=7, irmlp_depthwise=True)
        >>> net(torch.randn(1, 3, 224, 224)).shape
        torch.Size([1, 7])
        >>> stages = net.forward_intermediates(torch.randn(1, 3, 224, 224), intermediates_only=True)
        >>> [tuple(f.shape[1:]) for f in stages]
        [(96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7)]
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 7,
        *,
        channels: tuple[int, ...] | list[int] = (96, 192, 384, 768),
        depths: tuple[int, ...] | list[int] = (2, 2, 2, 2),
        num_heads: tuple[int, ...] | list[int] = (3, 6, 12, 24),
        window_size: int = 7,
        patch_size: int = 4,
        hff_reduction: int = 16,
        irmlp_depthwise: bool = False,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        check_network_args("HiFuse", spatial_dims, in_channels, out_channels)
        channels, depths = check_stage_args("HiFuse", channels, depths, doubling=True)
        num_heads = tuple(num_heads)
        if len(num_heads) != len(channels):
            raise ValueError(
                f"HiFuse: channels, depths and num_heads must be of equal length, got {len(channels)}, {len(depths)} "
                f"and {len(num_heads)}."
            )
        if any(h < 1 or c % h for c, h in zip(channels, num_heads)):
            raise ValueError(f"every entry of num_heads must divide the matching channels, got {num_heads}.")
        if window_size < 1:
            raise ValueError(f"window_size must be a positive integer, got {window_size}.")
        if patch_size < 1:
            raise ValueError(f"patch_size must be a positive integer, got {patch_size}.")
        if hff_reduction < 1 or channels[0] // hff_reduction < 1:
            raise ValueError(
                f"hff_reduction must be in [1, channels[0]={channels[0]}] (the HFF channel-attention bottleneck "
                f"is C // hff_reduction), got {hff_reduction}."
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}.")

        self.size_divisor = patch_size * 2 ** (len(channels) - 1)
        total = sum(depths)
        rates = [drop_path_rate * k / max(total - 1, 1) for k in range(total)]
        self.local_stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], patch_size, stride=patch_size), LayerNorm2d(channels[0], eps=1e-6)
        )
        self.global_stem = PatchEmbed2d(patch_size, in_channels, channels[0], norm_layer=nn.LayerNorm)
        self.local_stages = nn.ModuleList()
        self.global_stages = nn.ModuleList()
        start = 0
        for i, (width, depth, heads) in enumerate(zip(channels, depths, num_heads)):
            local: list[nn.Module] = []
            glob: list[nn.Module] = []
            if i > 0:
                local += [LayerNorm2d(channels[i - 1], eps=1e-6), nn.Conv2d(channels[i - 1], width, 2, stride=2)]
                glob.append(PatchMerging2d(channels[i - 1]))
            for j in range(depth):
                local.append(HiFuseLocalBlock(width, drop_path=rates[start + j]))
                shift = window_size // 2 if j % 2 else 0
                glob.append(HiFuseGlobalBlock(width, heads, window_size, shift, drop_path=rates[start + j]))
            self.local_stages.append(nn.Sequential(*local))
            self.global_stages.append(nn.Sequential(*glob))
            start += depth
        self.head_norm = nn.LayerNorm(channels[-1], eps=1e-6)
        self.head = nn.Linear(channels[-1], out_channels)
        self._init_branch_weights()
        self.hff = nn.ModuleList(
            HFFBlock(width, hff_reduction, first_stage=i == 0, irmlp_depthwise=irmlp_depthwise)
            for i, width in enumerate(channels)
        )
        #: timm-style description of the intermediates returned by :meth:`forward_intermediates`.
        self.feature_info = [
            {"num_chs": c, "reduction": patch_size * 2**i, "module": f"hff.{i}"} for i, c in enumerate(channels)
        ]

    def _init_branch_weights(self) -> None:
        """Branches and head: Linear trunc-normal(0.02), bias 0; LayerNorm 1/0; Conv2d trunc-normal(0.2), bias 0.

        Called before the HFF blocks exist, so they keep PyTorch's defaults (as in the released code). The relative
        position bias tables keep their trunc-normal(0.02) initialisation from ``WindowAttention``.
        """
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                trunc_normal_(m.weight, std=0.02 if isinstance(m, nn.Linear) else 0.2)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """HFF outputs, each channels-first (B, channels[i], H / r_i, W / r_i) with r_i = patch_size * 2**i."""
        if x.dim() != 4:
            raise ValueError(f"HiFuse expects a (B, C, H, W) input, got shape {list(x.shape)}.")
        if x.shape[2] % self.size_divisor or x.shape[3] % self.size_divisor:
            raise ValueError(
                f"HiFuse needs H and W divisible by {self.size_divisor} (patch_size * 2 ** (stages - 1)), "
                f"got {list(x.shape[2:])}; resize or pad the input."
            )
        local = self.local_stem(x)
        glob = self.global_stem(x).permute(0, 2, 3, 1)
        features: list[torch.Tensor] = []
        fused: torch.Tensor | None = None
        for local_stage, global_stage, hff in zip(self.local_stages, self.global_stages, self.hff):
            local = local_stage(local)
            glob = global_stage(glob)
            fused = hff(local, glob.permute(0, 3, 1, 2), fused)
            features.append(fused)
        return features

    def forward_intermediates(
        self, x: torch.Tensor, indices: int | Sequence[int] | None = None, intermediates_only: bool = False
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The HFF outputs (described by ``feature_info``), as timm's ``forward_intermediates``.

        The subset of timm's signature implemented here: ``indices`` (None = all, n = the last n, or a list of
        indices) and ``intermediates_only``; no ``norm``, ``stop_early`` or ``output_fmt`` (always NCHW).

        Args:
            x: (B, in_channels, H, W), H and W divisible by ``self.size_divisor``.
            indices: which HFF outputs to return.
            intermediates_only: return only the list.

        Returns:
            ``(forward_features(x), [features[i] for i in indices])``, or only the list with
            ``intermediates_only=True``.
        """
        features = self._forward_stages(x)
        taken = [features[i] for i in take_indices("HiFuse", len(features), indices)]
        if intermediates_only:
            return taken
        return features[-1], taken

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last HFF output, (B, channels[-1], H / r, W / r) with r = patch_size * 2 ** (len(channels) - 1).

        Args:
            x: (B, in_channels, H, W), H and W divisible by ``self.size_divisor``.
        """
        return self._forward_stages(x)[-1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool -> LayerNorm -> Linear on the output of :meth:`forward_features`.

        Args:
            x: (B, channels[-1], h, w) map from :meth:`forward_features`.
            pre_logits: return the pooled features (B, channels[-1]) instead of the logits.

        Returns:
            (B, out_channels) logits, or (B, channels[-1]) features with ``pre_logits=True``.
        """
        x = self.head_norm(x.mean(dim=(2, 3)))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def hifuse_tiny(**kwargs: Any) -> HiFuse:
    """HiFuse-T: depths (2, 2, 2, 2); 118,086,497 parameters at out_channels=7 (54,673,217 with irmlp_depthwise)."""
    model_args = {"channels": (96, 192, 384, 768), "depths": (2, 2, 2, 2), "num_heads": (3, 6, 12, 24)}
    return HiFuse(**dict(model_args, **kwargs))


def hifuse_small(**kwargs: Any) -> HiFuse:
    """HiFuse-S: depths (2, 2, 6, 2); 121,664,273 parameters at out_channels=7 (58,250,993 with irmlp_depthwise)."""
    model_args = {"channels": (96, 192, 384, 768), "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24)}
    return HiFuse(**dict(model_args, **kwargs))


def hifuse_base(**kwargs: Any) -> HiFuse:
    """HiFuse-B: depths (2, 2, 18, 2); 132,397,601 parameters at out_channels=7 (68,984,321 with irmlp_depthwise)."""
    model_args = {"channels": (96, 192, 384, 768), "depths": (2, 2, 18, 2), "num_heads": (3, 6, 12, 24)}
    return HiFuse(**dict(model_args, **kwargs))
