# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""monai-fusion: MONAI components and bundles for frequency-domain and multi-scale fusion networks."""

from __future__ import annotations

__version__ = "0.1.0"
