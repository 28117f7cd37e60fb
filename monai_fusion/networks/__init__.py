# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Networks, blocks, layers and numerical ops."""

from __future__ import annotations

from . import blocks, layers, nets, ops
