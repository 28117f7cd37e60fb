# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Blocks used only by MFSF2-Net and MFSF2-Net-Seg."""

from __future__ import annotations

from .mfaf import MFAF
from .mffe import MFFE
from .pmsf import PMSF, PSA, PSABranchWeight
from .reverse_attention import RADecoder, RAUpBlock, ReverseAttention, reverse_attention_weight
