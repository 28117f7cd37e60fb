# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""monai-fusion: MONAI components and bundles for frequency-domain and multi-scale fusion networks.

Importing the package imports its network, transform, inferer, data and handler modules, so that MONAI's component
locator (which scans the imported modules whose names start with ``monai``) resolves short ``_target_`` names such
as ``"CDFINet"`` or ``"HUWindowd"`` in bundle configs. Nothing else happens at import: no device is touched and no
optional dependency (mamba-ssm) is imported.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import data, handlers, inferers, networks, transforms  # noqa: E402  (after __version__, which setup.cfg reads)
