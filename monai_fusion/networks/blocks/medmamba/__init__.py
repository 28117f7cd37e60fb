# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Blocks used only by MedMamba."""

from __future__ import annotations

from .ss_conv_ssm import SSConvSSMBlock
