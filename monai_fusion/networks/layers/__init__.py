# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Thin layers shared by the networks."""

from __future__ import annotations

from .channel_shuffle import channel_shuffle
from .grn import GRN
from .layer_norm_nd import LayerNorm2d
