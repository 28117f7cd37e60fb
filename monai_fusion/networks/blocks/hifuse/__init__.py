# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Blocks used only by HiFuse."""

from __future__ import annotations

from .cbam import CBAMChannelAttention, CBAMSpatialAttention
from .hff import HFFBlock
from .hifuse_branches import HiFuseGlobalBlock, HiFuseLocalBlock
from .irmlp import IRMLP
from .window_attention import ShiftedWindowAttention
