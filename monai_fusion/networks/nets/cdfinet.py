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
"""CDFINet: a cross-domain (spatial / wavelet-frequency) feature interaction network for medical image classification.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; the paper text is not public: the architecture comes from the authors' Fig. 1-2, README and
released model definition, GitHub ``PURSUETHESUN/CDFINet``, which has no licence, so none of its code is used here).
Re-implemented from the authors' published description (figures, README); no code copied.

"Frequency" in CDFINet always means a single-level 2-D Haar DWT/IDWT (no FFT). Stages 1-2 are LGFS blocks (local
wavelet convolutions plus a VMamba-style selective scan over the subbands), stages 3-4 are MVBA attention blocks,
and an FSDA head cross-attends a wavelet view of stage 3 to stage 4 before the classifier.

Spatial shape constraints: 2-D only; H and W divisible by 32 (stem stride 4, then three 2x downsamplings, and the
Haar transforms of the LGFS blocks and of FSDA need even grids at every stage).

Memory layout: by default the input is made channels-last (NHWC strides) before the stem, so every convolution,
the Haar DWT / IDWT and the selective scan's NHWC token view run without an NCHW round trip; the stage outputs are
channels-last ``(B, C, H, W)`` tensors. On the project's 2-core CPU this made a CDFINet training step (batch 8,
224 x 224) about 1.26x faster than the NCHW path, with the same results within float rounding (the tests compare
both within 1e-5). ``channels_last=False`` keeps the input's own layout.

TorchScript: ``torch.jit.script`` (what ``monai.bundle ckpt_export`` does without ``--use_trace``) and
``torch.jit.trace`` both work; the scripted and traced selective scan runs the plain-tensor blocked path of
``selective_scan`` (same results as the eager backends within float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers import trunc_normal_
from torch import nn

from monai_fusion.networks.blocks.cdfinet.dual_downsample import DualDownsample
from monai_fusion.networks.blocks.cdfinet.fsda import FSDA
from monai_fusion.networks.blocks.cdfinet.lgfs import LGFSBlock
from monai_fusion.networks.blocks.cdfinet.mvba import MVBABlock
from monai_fusion.networks.utils import check_network_args, check_stage_args, take_indices

__all__ = ["CDFINet"]

_SIZE_DIVISOR = 32


class CDFINet(nn.Module):
    """CDFINet image classifier.

    * Stem: conv3x3 stride 2 (``in_channels -> stem_channels``) + BN + GELU, conv3x3 stride 2
      (``stem_channels -> channels[0]``) + BN + GELU; both convs with bias.
    * Stages 1-2: ``depths[i]`` x :class:`~monai_fusion.networks.blocks.cdfinet.lgfs.LGFSBlock`.
    * Stages 3-4: ``depths[i]`` x :class:`~monai_fusion.networks.blocks.cdfinet.mvba.MVBABlock`.
    * Between stages: :class:`~monai_fusion.networks.blocks.cdfinet.dual_downsample.DualDownsample` (strided conv +
      max-pool).
    * Head: :class:`~monai_fusion.networks.blocks.cdfinet.fsda.FSDA` (S3, S4) -> global average pool -> LayerNorm
      (eps 1e-6) -> Linear.

    Initialisation: Linear layers trunc-normal (std 0.02) with zero bias, LayerNorms weight 1 / bias 0, FSDA convs
    N(0, 2 / fan_out) with zero bias (done by FSDA), every other conv the PyTorch default, and the SSM parameters of
    the selective scans as initialised by their blocks (S4D-real A, D = 1, VMamba dt init).

    With the defaults and ``out_channels=8`` the network has 7,531,306 parameters (stem 19,584; stage 1 225,155;
    stage 2 745,219; stage 3 2,505,896; stage 4 2,207,124; downsamplings 82,560 / 246,720 / 492,800; FSDA
    1,003,680; head 2,568).

    Args:
        spatial_dims: must be 2.
        in_channels: input image channels.
        out_channels: number of classes.
        channels: the four stage widths; stages 1-2 need even widths, stages 3-4 widths divisible by ``mvba_heads``
            (and even), and the last one divisible by 4 and by ``fsda_heads``.
        depths: the number of blocks in each of the four stages.
        kernel_size: k of the asymmetric 1xk / kx1 depthwise convs of the LGFS blocks (odd).
        d_state: N, the SSM state size of the LGFS selective scans.
        mlp_ratio: hidden-width ratio of the LGFS (MFFN) and MVBA (CFFN) feed-forward networks.
        stem_channels: width of the first stem conv.
        mvba_heads: attention heads of the MVBA blocks.
        fsda_heads: attention heads of FSDA.
        fsda_reshape_quirk: reproduce the authors' FSDA query reshape without transpose (see
            :class:`~monai_fusion.networks.blocks.cdfinet.fsda.FSDA`); default False uses proper tokens.
        scan_backend: backend of the selective scan: ``"auto"``, ``"reference"``, ``"torch"``, ``"cpu"`` (the fused
            C kernel) or ``"cuda"``.
        channels_last: make the input channels-last before the stem (see the module docstring); False keeps the
            input's layout. The results are the same within float rounding.

    Spatial shape constraints:
        Input (B, in_channels, H, W) with H and W divisible by 32 (square or not); stage i has spatial size
        (H, W) / 2 ** (i + 2), i.e. 56, 28, 14, 7 for a 224 x 224 input.

    Examples::

        >>> net = CDFINet(in_channels=3, out_channels=8)
        >>> net(torch.randn(2, 3, 224, 224)).shape
        torch.Size([2, 8])
        >>> stages = net.forward_intermediates(torch.randn(1, 3, 224, 224), intermediates_only=True)
        >>> [tuple(f.shape[1:]) for f in stages]
        [(64, 56, 56), (128, 28, 28), (192, 14, 14), (256, 7, 7)]
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 8,
        *,
        channels: tuple[int, ...] | list[int] = (64, 128, 192, 256),
        depths: tuple[int, ...] | list[int] = (1, 1, 2, 1),
        kernel_size: int = 9,
        d_state: int = 16,
        mlp_ratio: int = 4,
        stem_channels: int = 32,
        mvba_heads: int = 4,
        fsda_heads: int = 8,
        fsda_reshape_quirk: bool = False,
        scan_backend: str = "auto",
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        check_network_args("CDFINet", spatial_dims, in_channels, out_channels)
        channels, depths = check_stage_args("CDFINet", channels, depths, num_stages=4)
        if stem_channels < 1:
            raise ValueError(f"stem_channels must be a positive integer, got {stem_channels}.")

        self.size_divisor = _SIZE_DIVISOR
        self.channels_last = channels_last
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(stem_channels),
            nn.GELU(),
            nn.Conv2d(stem_channels, channels[0], 3, stride=2, padding=1),
            nn.BatchNorm2d(channels[0]),
            nn.GELU(),
        )
        self.stages = nn.ModuleList()
        for i, (width, depth) in enumerate(zip(channels, depths)):
            blocks: list[nn.Module]
            if i < 2:
                blocks = [
                    LGFSBlock(width, kernel_size, d_state=d_state, mlp_ratio=mlp_ratio, scan_backend=scan_backend)
                    for _ in range(depth)
                ]
            else:
                blocks = [MVBABlock(width, num_heads=mvba_heads, mlp_ratio=mlp_ratio) for _ in range(depth)]
            self.stages.append(nn.Sequential(*blocks))
        self.downsamples = nn.ModuleList([DualDownsample(channels[i], channels[i + 1]) for i in range(3)])
        self.fsda = FSDA(channels[2], channels[3], num_heads=fsda_heads, reshape_quirk=fsda_reshape_quirk)
        self.norm = nn.LayerNorm(channels[3], eps=1e-6)
        self.head = nn.Linear(channels[3], out_channels)
        #: timm-style description of the stage outputs returned by :meth:`forward_intermediates`.
        self.feature_info = [
            {"num_chs": c, "reduction": 2 ** (i + 2), "module": f"stages.{i}"} for i, c in enumerate(channels)
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        """Linear: trunc-normal(0.02), bias 0; LayerNorm (incl. channels-first): 1/0.

        Convs keep their own initialisation (PyTorch default, or FSDA's fan-out normal), and the raw SSM
        parameters keep the initialisation of the selective-scan cores.
        """
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four stage outputs ``[S1, S2, S3, S4]``, channels-first, each taken before the following downsampling;
        Si has shape (B, channels[i], H / 2 ** (i + 2), W / 2 ** (i + 2))."""
        if x.dim() != 4:
            raise ValueError(f"CDFINet expects a (B, C, H, W) input, got shape {list(x.shape)}.")
        if x.shape[2] % self.size_divisor or x.shape[3] % self.size_divisor:
            raise ValueError(
                f"CDFINet needs H and W divisible by {self.size_divisor}, got {list(x.shape[2:])}; resize or pad the "
                "input (e.g. 224 x 224)."
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        features: list[torch.Tensor] = []
        # stage i then downsample i, zipped (TorchScript cannot index a ModuleList with a loop variable); then the
        # last stage
        for stage, downsample in zip(self.stages, self.downsamples):
            x = stage(x)
            features.append(x)
            x = downsample(x)
        x = self.stages[-1](x)
        features.append(x)
        return features

    def forward_intermediates(
        self, x: torch.Tensor, indices: int | Sequence[int] | None = None, intermediates_only: bool = False
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The stage outputs S1..S4 (described by ``feature_info``), as timm's ``forward_intermediates``.

        The subset of timm's signature implemented here: ``indices`` (None = all four, n = the last n, or a list of
        indices) and ``intermediates_only``; no ``norm``, ``stop_early`` or ``output_fmt`` (always NCHW).

        Args:
            x: (B, in_channels, H, W) with H and W divisible by 32.
            indices: which stage outputs to return.
            intermediates_only: return only the list.

        Returns:
            ``(forward_features(x), [Si for i in indices])``, or only the list with ``intermediates_only=True``.
        """
        features = self._forward_stages(x)
        taken = [features[i] for i in take_indices("CDFINet", len(features), indices)]
        if intermediates_only:
            return taken
        return self.fsda(features[2], features[3]), taken

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling: FSDA(S3, S4), (B, channels[3], H / 32, W / 32).

        Args:
            x: (B, in_channels, H, W) with H and W divisible by 32.
        """
        features = self._forward_stages(x)
        return self.fsda(features[2], features[3])

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool -> LayerNorm -> Linear on the output of :meth:`forward_features`.

        Args:
            x: (B, channels[3], h, w) map from :meth:`forward_features`.
            pre_logits: return the normalised pooled features (B, channels[3]) instead of the logits.

        Returns:
            (B, out_channels) logits, or (B, channels[3]) features with ``pre_logits=True``.
        """
        x = self.norm(x.mean(dim=(2, 3)))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, out_channels) for an input (B, in_channels, H, W) with H and W divisible by 32."""
        return self.forward_head(self.forward_features(x))
