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
"""MFSF2-Net classification network and the dual-backbone fusion trunk it shares with :mod:`.mfsf2net_seg`.

Paper: "MFSF2-NET: Towards Improved Skin Lesion Diagnosis via Multi-Scale and Multi-Frequency-Domain Fusion" (2025;
earlier titled "MultiFreq2Scale-Fusion"; paper text not public, authors' repository GitHub ``men934/MFSF2-NET``, no
licence). Re-implemented from the authors' published description (figures, README); no code copied. The backbones are
timm's ``resnet50`` and ``pvt_v2_b2`` (``features_only``); the authors' dead second PVT copy is not built. The
multimodal Conv3d input path is a reconstruction (inferred: the authors publish the RCM data layout, not the layer).

Shape constraints: 2-D only; input (B, in_channels, H, W) with H and W divisible by 32 (both backbones downsample by
32; when the stage sizes of the two branches differ, MFAF resizes the ResNet map). In training mode the batch must
be larger than 1 (BatchNorm1d in the head).

TorchScript: both ``torch.jit.script`` (timm's ``FeatureListNet`` backbones script) and ``torch.jit.trace`` with a
single image input work; should a future timm backbone stop scripting, trace instead (a trace is specialised to the
single-modality or the multimodal call it was recorded with).
"""

from __future__ import annotations

from collections.abc import Sequence

import timm
import torch
from torch import nn

from monai_fusion.networks.blocks.mfsf2net.mfaf import MFAF
from monai_fusion.networks.blocks.mfsf2net.pmsf import PMSF
from monai_fusion.networks.utils import take_indices

__all__ = ["MFSF2Encoder", "MFSF2Net"]

_RESNET_OUT_INDICES = (1, 2, 3, 4)


class MFSF2Encoder(nn.Module):
    """Dual-backbone trunk of MFSF2-Net: ResNet-50 and PVTv2-b2 fused stage by stage by four MFAF blocks.

    Multimodal input (a reconstruction, inferred from the published data layout): with ``rcm_slices=N`` a
    Conv3d(in_channels -> in_channels, kernel (N, 1, 1), with bias) collapses an (B, N, C, H, W) slice stack (e.g. 4
    RCM slices) into one (B, C, H, W) image for the PVT branch while the dermoscopy image goes to the ResNet branch.
    The kernel is 1x1 spatially so that the collapse is a learned per-pixel mixing of slices and channels that keeps
    the two modalities' pixel grids aligned. Without ``rcm`` the same image feeds both branches, as in the released
    code.

    The ResNet-50 is built with ``zero_init_last=False`` so that, like the torchvision ResNet-50 the authors used,
    the last BatchNorm of every bottleneck starts at weight 1 (timm's default of 0 would silence the residual
    branches, and their gradients, at initialisation).

    Args:
        in_channels: image channels (timm adapts the first conv when it is not 3).
        pretrained: load timm's ImageNet weights for both backbones (downloads them).
        fuse_channels: width of the fused maps F1..F4.
        drop_path_rate: stochastic depth of PVTv2 (linear 0 -> rate over its 16 blocks; the spec uses 0.1).
        rcm_slices: N, slices of the optional second-modality stack; None disables the Conv3d path.

    Input: ``x`` (B, in_channels, H, W) and optional ``rcm`` (B, N, in_channels, H, W).
    Output: ``(res_features, pvt_features, fused)``, three lists of 4 maps at strides 4, 8, 16, 32: ResNet
    256/512/1024/2048 channels, PVT 64/128/320/512 channels and fused ``fuse_channels``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        pretrained: bool = False,
        fuse_channels: int = 256,
        drop_path_rate: float = 0.1,
        rcm_slices: int | None = None,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"MFSF2Encoder: in_channels must be >= 1, got {in_channels}.")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"MFSF2Encoder: drop_path_rate must lie in [0, 1), got {drop_path_rate}.")
        if rcm_slices is not None and rcm_slices < 1:
            raise ValueError(f"MFSF2Encoder: rcm_slices must be None (single modality) or >= 1, got {rcm_slices}.")
        self.in_channels = in_channels
        self.rcm_slices = rcm_slices
        self.resnet = timm.create_model(
            "resnet50",
            features_only=True,
            pretrained=pretrained,
            in_chans=in_channels,
            out_indices=_RESNET_OUT_INDICES,
            zero_init_last=False,
        )
        self.pvt = timm.create_model(
            "pvt_v2_b2", features_only=True, pretrained=pretrained, in_chans=in_channels, drop_path_rate=drop_path_rate
        )
        self.rcm_fuse = (
            None if rcm_slices is None else nn.Conv3d(in_channels, in_channels, kernel_size=(rcm_slices, 1, 1))
        )
        res_channels = self.resnet.feature_info.channels()
        pvt_channels = self.pvt.feature_info.channels()
        self.mfaf = nn.ModuleList(MFAF(rc, pc, fuse_channels) for rc, pc in zip(res_channels, pvt_channels))
        self.feature_info = [
            {"num_chs": fuse_channels, "reduction": r, "module": f"mfaf.{i}"}
            for i, r in enumerate(self.pvt.feature_info.reduction())
        ]

    def _collapse_rcm(self, x: torch.Tensor, rcm: torch.Tensor) -> torch.Tensor:
        if self.rcm_fuse is None:
            raise ValueError("MFSF2Encoder: an rcm stack was given but the model was built with rcm_slices=None.")
        if not torch.jit.is_tracing() and (
            rcm.dim() != 5
            or rcm.shape[0] != x.shape[0]
            or rcm.shape[1] != self.rcm_slices
            or rcm.shape[2] != self.in_channels
        ):
            raise ValueError(
                f"MFSF2Encoder: rcm must have layout (B, N, C, H, W) = (B={x.shape[0]}, N={self.rcm_slices}, "
                f"C={self.in_channels}, H, W), got shape {list(rcm.shape)}."
            )
        return self.rcm_fuse(rcm.transpose(1, 2)).squeeze(2)

    def forward(
        self, x: torch.Tensor, rcm: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        pvt_in = x if rcm is None else self._collapse_rcm(x, rcm)
        res_features = self.resnet(x)
        pvt_features = self.pvt(pvt_in)
        fused: list[torch.Tensor] = []
        for i, mfaf in enumerate(self.mfaf):
            fused.append(mfaf(res_features[i], pvt_features[i]))
        return res_features, pvt_features, fused


class MFSF2Net(nn.Module):
    """MFSF2-Net (MultiFreq2Scale-Fusion) classifier.

    ``F1..F4 = MFAF_i(ResNet_i, PVT_i)``; ``v = PMSF(F1..F4)`` (512-d); logits = Linear(1024 -> out_channels)(
    Dropout(ReLU(BN1d(Linear(3072 -> 1024)(concat[GAP(ResNet layer4), GAP(PVT stage 4), v]))))). 59,729,419
    parameters with ``out_channels=7`` and default arguments.

    Args:
        spatial_dims: must be 2.
        in_channels: image channels.
        out_channels: number of classes.
        pretrained: load timm's ImageNet weights for both backbones (downloads them).
        fuse_channels: width of the fused maps F1..F4 (and of PMSF's per-stage convs).
        dropout: dropout probability before the last Linear.
        drop_path_rate: PVTv2 stochastic depth.
        rcm_slices: N, number of slices of an optional second-modality stack (see :class:`MFSF2Encoder`).

    Input: ``x`` (B, in_channels, H, W) and optional ``rcm`` (B, N, in_channels, H, W). Output: (B, out_channels).

    Example::

        net = MFSF2Net(out_channels=7)
        logits = net(torch.randn(2, 3, 224, 224))  # (2, 7)
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 7,
        *,
        pretrained: bool = False,
        fuse_channels: int = 256,
        dropout: float = 0.3,
        drop_path_rate: float = 0.1,
        rcm_slices: int | None = None,
    ) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"MFSF2Net: only spatial_dims=2 is supported (2-D timm backbones), got {spatial_dims}.")
        if out_channels < 1:
            raise ValueError(f"MFSF2Net: out_channels (number of classes) must be >= 1, got {out_channels}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MFSF2Net: dropout must lie in [0, 1), got {dropout}.")
        self.encoder = MFSF2Encoder(in_channels, pretrained, fuse_channels, drop_path_rate, rcm_slices)
        self.pmsf = PMSF(in_channels=fuse_channels, stage_channels=fuse_channels, out_channels=512)
        head_in = self.encoder.resnet.feature_info.channels()[-1] + self.encoder.pvt.feature_info.channels()[-1] + 512
        self.head = nn.Sequential(
            nn.Linear(head_in, 1024),
            nn.BatchNorm1d(1024),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(1024, out_channels),
        )
        #: timm-style description of the fused maps F1..F4 returned by :meth:`forward_intermediates`.
        self.feature_info = [dict(info, module=f"encoder.{info['module']}") for info in self.encoder.feature_info]

    def forward_intermediates(
        self,
        x: torch.Tensor,
        rcm: torch.Tensor | None = None,
        indices: int | Sequence[int] | None = None,
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """The fused maps F1..F4 (described by ``feature_info``), as timm's ``forward_intermediates``.

        The subset of timm's signature implemented here: ``indices`` (None = all four, n = the last n, or a list of
        indices) and ``intermediates_only``; no ``norm``, ``stop_early`` or ``output_fmt`` (always NCHW). ``rcm`` is
        the optional second modality, as in :meth:`forward`.

        Args:
            x: (B, in_channels, H, W) image.
            rcm: optional (B, N, in_channels, H, W) stack for the PVT branch.
            indices: which fused maps to return.
            intermediates_only: return only the list.

        Returns:
            ``(F4, [Fi for i in indices])``, or only the list with ``intermediates_only=True``; Fi is
            (B, fuse_channels, H/s, W/s) with s = 4, 8, 16, 32.
        """
        fused = self.encoder(x, rcm)[2]
        taken = [fused[i] for i in take_indices("MFSF2Net", len(fused), indices)]
        if intermediates_only:
            return taken
        return fused[-1], taken

    def forward_features(self, x: torch.Tensor, rcm: torch.Tensor | None = None) -> torch.Tensor:
        """The last fused map F4, (B, fuse_channels, H/32, W/32).

        Unlike timm's models, the classifier does not work from this map alone (it pools all of F1..F4 and both
        backbones' last maps), so MFSF2Net has no ``forward_head``: see :meth:`forward_classifier`.
        """
        return self.encoder(x, rcm)[2][-1]

    def forward_classifier(
        self, features: list[torch.Tensor], res_last: torch.Tensor, pvt_last: torch.Tensor
    ) -> torch.Tensor:
        """Classifier on top of the trunk: PMSF(F1..F4) concatenated with the pooled last backbone maps -> MLP head.

        Args:
            features: F1..F4, e.g. from :meth:`forward_intermediates` with ``intermediates_only=True``.
            res_last: ResNet layer4 map (B, 2048, H/32, W/32).
            pvt_last: PVT stage-4 map (B, 512, H/32, W/32).

        Returns:
            (B, out_channels) logits.
        """
        vec = torch.cat([res_last.mean(dim=(2, 3)), pvt_last.mean(dim=(2, 3)), self.pmsf(features)], dim=1)
        return self.head(vec)

    def forward(self, x: torch.Tensor, rcm: torch.Tensor | None = None) -> torch.Tensor:
        res_features, pvt_features, fused = self.encoder(x, rcm)
        return self.forward_classifier(fused, res_features[-1], pvt_features[-1])
