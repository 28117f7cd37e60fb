# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Blocks, one concept per module. Blocks used by a single network live in a sub-package named after it
(``cdfinet``, ``hifuse``, ``medmamba``, ``mfsf2net``); blocks shared by several networks (:mod:`.ss2d`, used by CDFINet
and MedMamba) stay here. Every public class is re-exported, so ``from monai_fusion.networks.blocks import X`` works
wherever ``X`` lives."""

from __future__ import annotations

from .cdfinet.cffn import CFFN
from .cdfinet.dfs import DFS
from .cdfinet.dual_downsample import DualDownsample
from .cdfinet.fsda import FSDA
from .cdfinet.gcsa import GCSA
from .cdfinet.gfds import GFDS
from .cdfinet.lfds import LFDS
from .cdfinet.lgfs import LGFSBlock
from .cdfinet.mffn import MFFN
from .cdfinet.min_max_spatial_attention import MinMaxSpatialAttention
from .cdfinet.mvba import MVBAAttention, MVBABlock
from .cdfinet.mvsa import MVSA
from .hifuse.cbam import CBAMChannelAttention, CBAMSpatialAttention
from .hifuse.hff import HFFBlock
from .hifuse.hifuse_branches import HiFuseGlobalBlock, HiFuseLocalBlock
from .hifuse.irmlp import IRMLP
from .hifuse.window_attention import ShiftedWindowAttention
from .medmamba.ss_conv_ssm import SSConvSSMBlock
from .mfsf2net.mfaf import MFAF
from .mfsf2net.mffe import MFFE
from .mfsf2net.pmsf import PMSF, PSA, PSABranchWeight
from .mfsf2net.reverse_attention import RADecoder, RAUpBlock, ReverseAttention, reverse_attention_weight
from .ss2d import SS2D, SS2DCore
