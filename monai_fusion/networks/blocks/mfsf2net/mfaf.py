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
"""MFAF, the multi-frequency awareness fusion of one MFSF2-Net stage (ResNet-50 map + PVTv2 map -> fused map).

Paper: "MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion" (2025;
paper text not public, authors' repository GitHub ``men934/MFSF2-NET``, no licence). Re-implemented from the authors'
published description (figures, README); no code copied.

Shape constraints: ``res`` is (B, res_channels, Hr, Wr), ``pvt`` is (B, pvt_channels, H, W); when the sizes differ the
ResNet map is bilinearly resized (align_corners=True) to H x W. Output (B, fuse_channels, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_fusion.networks.blocks.mfsf2net.mffe import MFFE

__all__ = ["MFAF"]


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class MFAF(nn.Module):
    """Multi-frequency awareness fusion of a CNN map ``res`` and a transformer map ``pvt``.

    1. Alignment: ``res`` is resized to ``pvt``'s size when they differ (bilinear, align_corners=True), then
       ``r = ReLU(BN(conv1x1(res)))`` and ``p = ReLU(BN(conv3x3(pvt)))``, both to ``fuse_channels`` (convs with bias).
    2. ``r = MFFE_r(r)`` and ``p = MFFE_p(p)`` (two separate instances).
    3. Spatial complementary gate: ``s = sigmoid(conv1x1(ReLU(BN(conv1x1(concat[r, p])))))`` with 2F -> F -> 1
       channels (with bias); ``r' = r * s`` and ``p' = p * (1 - s)``.
    4. Reassembly: ``ReLU(BN(conv1x1(concat[r', p'])))`` with 2F -> F channels (with bias).

    Args:
        res_channels: channels of the ResNet map.
        pvt_channels: channels of the PVT map.
        fuse_channels: F, the fused width.
        dct_size: DCT grid side of both MFFE blocks.
        num_frequencies: number of top16 frequencies of both MFFE blocks.
        reduction: MLP reduction of both MFFE blocks.

    Input: ``res`` (B, res_channels, Hr, Wr) and ``pvt`` (B, pvt_channels, H, W).
    Output: (B, fuse_channels, H, W).
    """

    def __init__(
        self,
        res_channels: int,
        pvt_channels: int,
        fuse_channels: int = 256,
        dct_size: int = 7,
        num_frequencies: int = 16,
        reduction: int = 16,
    ) -> None:
        super().__init__()
        for name, value in (("res_channels", res_channels), ("pvt_channels", pvt_channels)):
            if value < 1:
                raise ValueError(f"MFAF: {name} must be >= 1, got {value}.")
        if fuse_channels < 1:
            raise ValueError(f"MFAF: fuse_channels must be >= 1, got {fuse_channels}.")
        self.align_res = _conv_bn_relu(res_channels, fuse_channels, 1)
        self.align_pvt = _conv_bn_relu(pvt_channels, fuse_channels, 3)
        self.mffe_res = MFFE(fuse_channels, dct_size, num_frequencies, reduction)
        self.mffe_pvt = MFFE(fuse_channels, dct_size, num_frequencies, reduction)
        self.gate = nn.Sequential(
            _conv_bn_relu(2 * fuse_channels, fuse_channels, 1),
            nn.Conv2d(fuse_channels, 1, 1),
            nn.Sigmoid(),
        )
        self.reassemble = _conv_bn_relu(2 * fuse_channels, fuse_channels, 1)

    def forward(self, res: torch.Tensor, pvt: torch.Tensor) -> torch.Tensor:
        if res.shape[-2:] != pvt.shape[-2:]:
            res = F.interpolate(res, size=pvt.shape[-2:], mode="bilinear", align_corners=True)
        r = self.mffe_res(self.align_res(res))
        p = self.mffe_pvt(self.align_pvt(pvt))
        s = self.gate(torch.cat([r, p], dim=1))
        return self.reassemble(torch.cat([r * s, p * (1 - s)], dim=1))
