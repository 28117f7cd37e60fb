# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Thin layers and initialisers shared by the networks."""

from __future__ import annotations

from .channel_shuffle import channel_shuffle
from .dct import TOP16_FREQUENCIES, dct_basis_1d, dct_basis_2d, dct_filter_bank, scale_frequencies
from .grn import GRN
from .layer_norm_nd import LayerNorm2d
from .patch_2d import PatchEmbed2d, PatchMerging2d
from .ssm_init import a_log_init, d_init, dt_bias_init, dt_projection_init_
