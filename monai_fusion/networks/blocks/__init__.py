# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Reusable blocks, one concept per module."""

from __future__ import annotations

from .cbam import CBAMChannelAttention, CBAMSpatialAttention
from .cffn import CFFN
from .dfs import DFS
from .dual_downsample import DualDownsample
from .fsda import FSDA
from .gcsa import GCSA
from .gfds import GFDS
from .hff import HFFBlock
from .hifuse_branches import HiFuseGlobalBlock, HiFuseLocalBlock
from .irmlp import IRMLP
from .lfds import LFDS
from .lgfs import LGFSBlock
from .mfaf import MFAF
from .mffe import MFFE
from .mffn import MFFN
from .min_max_spatial_attention import MinMaxSpatialAttention
from .mvba import MVBAAttention, MVBABlock
from .mvsa import MVSA
from .pmsf import PMSF, PSA, PSABranchWeight
from .reverse_attention import RADecoder, RAUpBlock, ReverseAttention, reverse_attention_weight
from .ss2d import SS2D, SS2DCore
from .ss_conv_ssm import SSConvSSMBlock
from .window_attention import ShiftedWindowAttention
