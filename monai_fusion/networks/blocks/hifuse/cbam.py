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
"""CBAM-style spatial and channel attention, as used inside HiFuse's HFF block.

Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018 (arXiv:1807.06521), in the variant of Huo et al.,
"HiFuse: Hierarchical multi-scale feature fusion network for medical image classification", Biomedical Signal Processing
and Control 87 (2024) 105534 (arXiv:2209.10218). Re-implemented from the paper's description; no code copied. The names
carry a ``CBAM`` prefix so they do not clash with MONAI's ``SpatialAttentionBlock`` / ``ChannelSELayer``.

Spatial shape constraints: none; any H, W >= 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CBAMSpatialAttention", "CBAMChannelAttention"]


class CBAMSpatialAttention(nn.Module):
    """Spatial attention: ``x * sigmoid(BN(conv([max_c(x), mean_c(x)])))``.

    The per-pixel maximum and mean over the channels are stacked in that order (2 maps), convolved to one map by a
    ``kernel_size`` x ``kernel_size`` conv without bias (zero "same" padding), batch-normalised and passed through a
    sigmoid; the result gates every channel of the input.

    Args:
        kernel_size: odd side of the conv kernel (7 in HiFuse).

    Input and output: (B, C, H, W).
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer (for 'same' padding), got {kernel_size}.")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, C, H, W).

        Returns:
            (B, C, H, W).
        """
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.norm(self.conv(pooled)))


class CBAMChannelAttention(nn.Module):
    """Channel attention: ``x * sigmoid(mlp(maxpool(x)) + mlp(avgpool(x)))`` with one shared bottleneck.

    The bottleneck is conv1x1 (C -> C // reduction, no bias), ReLU, conv1x1 (C // reduction -> C, no bias), applied
    to the global max-pooled and the global average-pooled (B, C, 1, 1) vectors; the two results are added and one
    sigmoid is applied (the released HiFuse code applied it twice until January 2024).

    Args:
        channels: C.
        reduction: bottleneck ratio; ``channels // reduction`` must be at least 1.

    Input and output: (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or channels // reduction < 1:
            raise ValueError(
                f"channels // reduction must be a positive integer (the bottleneck width), got channels={channels}, "
                f"reduction={reduction}; lower reduction or raise channels."
            )
        hidden = channels // reduction
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (B, C, H, W).

        Returns:
            (B, C, H, W).
        """
        logits = self.mlp(F.adaptive_max_pool2d(x, 1)) + self.mlp(F.adaptive_avg_pool2d(x, 1))
        return x * torch.sigmoid(logits)
