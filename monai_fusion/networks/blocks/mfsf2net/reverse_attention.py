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
"""Reverse-attention segmentation decoder of MFSF2-Net (a documented reconstruction, PraNet style).

Paper: "MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion" (2025;
paper text not public, and the authors' repository GitHub ``men934/MFSF2-NET`` releases no segmentation code). The
figure only shows the fused maps F1..F4 feeding "Upsampling -> RA" four times. Everything here is a reconstruction
(inferred from that figure) following the reverse attention of PraNet ("PraNet: Parallel Reverse Attention Network
for Polyp Segmentation", Fan et al., MICCAI 2020); no code copied.

Reconstruction choices:

* Reverse attention weight: ``1 - sigmoid(coarse)`` for one output channel; for ``out_channels > 1`` (channel 0 is
  background) the foreground probability is ``1 - softmax(coarse)[:, 0]``, so the weight is the background
  probability ``softmax(coarse)[:, 0]``.
* Each unit: bilinear x2 upsampling of the decoder features and of the coarse logits, concatenation with the skip map
  (when there is one), conv3x3 + BN + ReLU fusion, reverse attention (features times the weight, two conv3x3 + BN +
  ReLU, residual to the features), and a 3x3 conv whose output is added to the upsampled coarse logits.

Shape constraints: the decoder takes maps at strides 4, 8, 16, 32 of the input (every map half the size of the
previous one), e.g. H and W divisible by 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RADecoder", "RAUpBlock", "ReverseAttention", "reverse_attention_weight"]


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def reverse_attention_weight(coarse: torch.Tensor, binary: bool) -> torch.Tensor:
    """Reverse attention weight ``1 - P(foreground)`` of coarse logits.

    Args:
        coarse: (B, K, H, W) logits.
        binary: True when K = 1 (sigmoid foreground); otherwise class 0 is the background (softmax over K).

    Returns:
        (B, 1, H, W) weight in (0, 1): ``1 - sigmoid(coarse)`` when binary, ``softmax(coarse)[:, :1]`` otherwise.
    """
    if binary:
        return 1 - torch.sigmoid(coarse)
    return torch.softmax(coarse, dim=1)[:, :1]


class ReverseAttention(nn.Module):
    """PraNet-style reverse attention: refine features where the coarse map is not yet foreground.

    ``y = x + refine(x * w)`` with ``w = reverse_attention_weight(coarse, out_channels == 1)`` and ``refine`` = two
    conv3x3 + BN + ReLU; ``logits = coarse + conv3x3(y)``.

    Args:
        channels: feature channels C.
        out_channels: K, the number of logit channels.

    Input: ``x`` (B, C, H, W) and ``coarse`` (B, K, H, W).
    Output: ``(y, logits)`` with shapes (B, C, H, W) and (B, K, H, W).
    """

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        if channels < 1 or out_channels < 1:
            raise ValueError(
                f"ReverseAttention: channels and out_channels must be >= 1, got {channels} and {out_channels}."
            )
        self.binary = out_channels == 1
        self.refine = nn.Sequential(_conv_bn_relu(channels, channels), _conv_bn_relu(channels, channels))
        self.predict = nn.Conv2d(channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = x + self.refine(x * reverse_attention_weight(coarse, self.binary))
        return y, coarse + self.predict(y)


class RAUpBlock(nn.Module):
    """One decoder unit: upsample x2, fuse with a skip map, reverse attention.

    Args:
        in_channels: channels of the incoming decoder features.
        skip_channels: channels of the skip map; 0 for a unit without a skip.
        channels: output decoder channels.
        out_channels: logit channels K.

    Input: ``x`` (B, in_channels, h, w), ``coarse`` (B, K, h, w), ``skip`` (B, skip_channels, 2h, 2w) or None.
    Output: ``(y, logits)`` with shapes (B, channels, 2h, 2w) and (B, K, 2h, 2w).
    """

    def __init__(self, in_channels: int, skip_channels: int, channels: int, out_channels: int) -> None:
        super().__init__()
        if in_channels < 1 or channels < 1 or skip_channels < 0:
            raise ValueError(
                "RAUpBlock: in_channels and channels must be >= 1 and skip_channels >= 0, got "
                f"{in_channels}, {channels} and {skip_channels}."
            )
        self.has_skip = skip_channels > 0
        self.fuse = _conv_bn_relu(in_channels + skip_channels, channels)
        self.ra = ReverseAttention(channels, out_channels)

    def forward(
        self, x: torch.Tensor, coarse: torch.Tensor, skip: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.has_skip != (skip is not None):
            raise ValueError(f"RAUpBlock built with has_skip={self.has_skip} but skip given={skip is not None}.")
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        coarse = F.interpolate(coarse, scale_factor=2.0, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.ra(self.fuse(x), coarse)


class RADecoder(nn.Module):
    """Reverse-attention decoder over a feature pyramid (finest first), with deep-supervision outputs.

    The coarsest map is reduced by conv3x3 + BN + ReLU and predicted by a 1x1 conv (the initial coarse logits). Then
    one :class:`RAUpBlock` per finer map (upsample x2, fuse with it, reverse attention) and ``extra_upsamples`` units
    without a skip (upsample x2, reverse attention). With 4 inputs at strides 4..32 and ``extra_upsamples=1`` there
    are exactly four "upsample x2 + RA" units, and the finest logits are at stride 2.

    Args:
        in_channels: channels of the input maps, finest first.
        channels: decoder width.
        out_channels: logit channels K.
        extra_upsamples: number of skip-less units after the finest input map.

    Input: list of ``len(in_channels)`` maps, finest first, each half the size of the previous one.
    Output: list of ``len(in_channels) + extra_upsamples`` logits maps, **finest first** (stride 2, 4, 8, 16, 32 for
    the default MFSF2-Net use), at their native resolutions.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (256, 256, 256, 256),
        channels: int = 64,
        out_channels: int = 1,
        extra_upsamples: int = 1,
    ) -> None:
        super().__init__()
        if len(in_channels) < 1 or min(in_channels) < 1:
            raise ValueError(
                f"RADecoder: in_channels must be a non-empty sequence of positive ints, got {in_channels}."
            )
        if channels < 1 or out_channels < 1 or extra_upsamples < 0:
            raise ValueError(
                "RADecoder: channels and out_channels must be >= 1 and extra_upsamples >= 0, got "
                f"{channels}, {out_channels} and {extra_upsamples}."
            )
        self.num_inputs = len(in_channels)
        self.reduce = _conv_bn_relu(in_channels[-1], channels)
        self.initial = nn.Conv2d(channels, out_channels, 1)
        skips = list(reversed(in_channels[:-1])) + [0] * extra_upsamples
        self.ups = nn.ModuleList(RAUpBlock(channels, s, channels, out_channels) for s in skips)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != self.num_inputs:
            raise ValueError(f"RADecoder expects {self.num_inputs} feature maps, got {len(features)}.")
        x = self.reduce(features[-1])
        coarse = self.initial(x)
        outputs = [coarse]
        for i, up in enumerate(self.ups):
            skip: torch.Tensor | None = None
            if i < self.num_inputs - 1:
                skip = features[self.num_inputs - 2 - i]
            x, coarse = up(x, coarse, skip)
            outputs.insert(0, coarse)
        return outputs
