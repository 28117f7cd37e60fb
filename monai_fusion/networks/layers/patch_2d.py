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
"""2-D forms of MONAI's Swin patch embedding and patch merging whose ``forward`` compiles with ``torch.jit.script``.

MONAI's ``PatchEmbed`` and ``PatchMergingV2`` handle 2-D and 3-D in one ``forward`` (``itertools.product`` and
3-D tuple indices that TorchScript rejects). These subclasses keep MONAI's constructor, parameters and state-dict keys
and compute the same 2-D result with TorchScript-compatible code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.blocks import PatchEmbed
from monai.networks.nets.swin_unetr import PatchMergingV2
from torch import nn

__all__ = ["PatchEmbed2d", "PatchMerging2d"]


class PatchEmbed2d(PatchEmbed):
    """MONAI ``PatchEmbed(spatial_dims=2)``: conv ``patch_size`` x ``patch_size`` with that stride, then LayerNorm over
    channels; H and W are zero-padded at the end up to multiples of ``patch_size``.

    Args:
        patch_size: side and stride of the patch conv.
        in_chans: input channels.
        embed_dim: output channels.
        norm_layer: normalisation over the channels, or None.

    Input (B, in_chans, H, W), output (B, embed_dim, ceil(H / patch_size), ceil(W / patch_size)), channels-first.
    """

    def __init__(
        self, patch_size: int, in_chans: int, embed_dim: int, norm_layer: type[nn.LayerNorm] | None = nn.LayerNorm
    ) -> None:
        super().__init__(patch_size, in_chans, embed_dim, norm_layer=norm_layer, spatial_dims=2)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ph, pw = self.patch_size[0], self.patch_size[1]
        h, w = x.shape[2], x.shape[3]
        if w % pw != 0:
            x = F.pad(x, (0, pw - w % pw))
        if h % ph != 0:
            x = F.pad(x, (0, 0, 0, ph - h % ph))
        x = self.proj(x)
        if self.norm is not None:
            x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x


class PatchMerging2d(PatchMergingV2):
    """MONAI ``PatchMergingV2(spatial_dims=2)`` (Swin patch merging): gather each 2x2 neighbourhood into 4C channels in
    the order (0, 0), (1, 0), (0, 1), (1, 1) of (row, column) offsets, LayerNorm(4C), Linear(4C -> 2C, no bias); odd H
    or W are zero-padded at the end.

    Args:
        dim: C, the input channels.
        norm_layer: normalisation over the 4C gathered channels.

    Input (B, H, W, C), output (B, ceil(H / 2), ceil(W / 2), 2C), channels-last.
    """

    def __init__(self, dim: int, norm_layer: type[nn.LayerNorm] = nn.LayerNorm) -> None:
        super().__init__(dim, norm_layer=norm_layer, spatial_dims=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"PatchMerging2d expects (B, H, W, C) channels-last, got shape {list(x.shape)}.")
        h, w = x.shape[1], x.shape[2]
        if h % 2 == 1 or w % 2 == 1:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2, :], x[:, 1::2, 0::2, :], x[:, 0::2, 1::2, :], x[:, 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))
