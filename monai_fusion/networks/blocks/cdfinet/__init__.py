# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Blocks used only by CDFINet."""

from __future__ import annotations

from .cffn import CFFN
from .dfs import DFS
from .dual_downsample import DualDownsample
from .fsda import FSDA
from .gcsa import GCSA
from .gfds import GFDS
from .lfds import LFDS
from .lgfs import LGFSBlock
from .mffn import MFFN
from .min_max_spatial_attention import MinMaxSpatialAttention
from .mvba import MVBAAttention, MVBABlock
from .mvsa import MVSA
