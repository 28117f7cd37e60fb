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
"""MFSF2-Net segmentation network: the MFSF2-Net fusion trunk with a reverse-attention decoder.

Paper: "MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion" (2025;
paper text not public; the authors' repository GitHub ``men934/MFSF2-NET`` releases no segmentation code). The trunk
is re-implemented from the authors' published description (figures, README) and the decoder is a documented
reconstruction of the paper's segmentation figure (see :mod:`monai_fusion.networks.blocks.mfsf2net.reverse_attention`);
no code copied.

Shape constraints: 2-D only; input (B, in_channels, H, W) with H and W divisible by 32.

TorchScript: ``torch.jit.script`` works; ``torch.jit.trace`` with a single image input works too and records the mode
(train: list output, eval: one tensor) it was traced in. Should a future timm backbone stop scripting, trace instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.mfsf2net.reverse_attention import RADecoder
from monai_fusion.networks.nets.mfsf2net import MFSF2Encoder
from monai_fusion.networks.utils import take_indices

__all__ = ["MFSF2NetSeg"]


class MFSF2NetSeg(nn.Module):
    """MFSF2-Net for segmentation: :class:`MFSF2Encoder` (ResNet-50 + PVTv2-b2 + 4 MFAF) and a reverse-attention
    decoder.

    The decoder starts from F4 (stride 32) and applies four "upsample x2 + fuse + reverse attention" units: fused with
    F3, F2 and F1, then one without a skip, so the finest logits are at stride 2.

    * ``train()`` mode: ``forward`` returns a list of 5 deep-supervision logits maps, **all bilinearly upsampled to the
      input H x W**, ordered finest first: the stride-2, 4, 8, 16 and 32 predictions (the last is the initial coarse
      map of F4). This order suits ``monai.losses.DeepSupervisionLoss`` (first = main output, largest weight).
    * ``eval()`` mode: ``forward`` returns only the first of them, (B, out_channels, H, W).

    Args:
        spatial_dims: must be 2.
        in_channels: image channels.
        out_channels: 1 for a binary mask (sigmoid), else the number of classes including background (channel 0;
            softmax).
        pretrained: load timm's ImageNet weights for both backbones (downloads them).
        fuse_channels: width of the fused maps F1..F4.
        decoder_channels: width of the decoder.
        drop_path_rate: PVTv2 stochastic depth.
        rcm_slices: N, number of slices of an optional second-modality stack (see :class:`MFSF2Encoder`).

    Input: ``x`` (B, in_channels, H, W) and optional ``rcm`` (B, N, in_channels, H, W).
    Output: see the two modes above.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 1,
        *,
        pretrained: bool = False,
        fuse_channels: int = 256,
        decoder_channels: int = 64,
        drop_path_rate: float = 0.1,
        rcm_slices: int | None = None,
    ) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"MFSF2NetSeg: only spatial_dims=2 is supported (2-D timm backbones), got {spatial_dims}.")
        if out_channels < 1:
            raise ValueError(
                f"MFSF2NetSeg: out_channels must be 1 (binary) or the number of classes with background, got "
                f"{out_channels}."
            )
        self.encoder = MFSF2Encoder(in_channels, pretrained, fuse_channels, drop_path_rate, rcm_slices)
        self.decoder = RADecoder([fuse_channels] * 4, decoder_channels, out_channels, extra_upsamples=1)
        #: timm-style description of the fused maps F1..F4 returned by :meth:`forward_intermediates` (and decoded).
        self.feature_info = [dict(info, module=f"encoder.{info['module']}") for info in self.encoder.feature_info]

    def _fused(self, x: torch.Tensor, rcm: torch.Tensor | None) -> list[torch.Tensor]:
        if not torch.jit.is_tracing() and (x.shape[-2] % 32 or x.shape[-1] % 32):
            raise ValueError(f"MFSF2NetSeg: input H and W must be divisible by 32, got shape {list(x.shape)}.")
        return self.encoder(x, rcm)[2]

    def forward_intermediates(
        self,
        x: torch.Tensor,
        rcm: torch.Tensor | None = None,
        indices: int | Sequence[int] | None = None,
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The fused maps F1..F4 (described by ``feature_info``), as timm's ``forward_intermediates``.

        The subset of timm's signature implemented here: ``indices`` (None = all four, n = the last n, or a list of
        indices) and ``intermediates_only``; no ``norm``, ``stop_early`` or ``output_fmt`` (always NCHW).

        Returns:
            ``(F4, [Fi for i in indices])``, or only the list with ``intermediates_only=True``; Fi is
            (B, fuse_channels, H/s, W/s) with s = 4, 8, 16, 32.
        """
        fused = self._fused(x, rcm)
        taken = [fused[i] for i in take_indices("MFSF2NetSeg", len(fused), indices)]
        if intermediates_only:
            return taken
        return fused[-1], taken

    def forward_features(self, x: torch.Tensor, rcm: torch.Tensor | None = None) -> torch.Tensor:
        """The last fused map F4, (B, fuse_channels, H/32, W/32). The decoder needs all of F1..F4 (see
        :meth:`forward_decoder`), so there is no timm-style ``forward_head``."""
        return self._fused(x, rcm)[-1]

    def forward_decoder(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The decoder's side outputs from F1..F4, finest first (strides 2, 4, 8, 16, 32), not resized."""
        return self.decoder(features)

    def forward(self, x: torch.Tensor, rcm: torch.Tensor | None = None) -> torch.Tensor | list[torch.Tensor]:
        size = x.shape[-2:]
        outputs = self.forward_decoder(self._fused(x, rcm))
        if not self.training:
            return F.interpolate(outputs[0], size=size, mode="bilinear", align_corners=False)
        return [F.interpolate(o, size=size, mode="bilinear", align_corners=False) for o in outputs]
