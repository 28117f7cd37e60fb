# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The monai-fusion MONAI Label app: serves the bundles of ``bundles/`` (or copies of them) for inference and
training (masks for the segmentation bundle, class labels for the classification bundles).

Start it with ``python apps/monailabel/serve.py --studies DIR --conf models a,b`` (binds to 127.0.0.1); see
``docs/monailabel.md``. MONAI Label loads this file by path and takes the ``MONAILabelApp`` subclass it finds:
:class:`fusion_label.app.FusionApp` (``serve.py`` writes the same two imports into the app folder it runs from).
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # MONAI Label loads main.py by file path
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion_label.compat import patch_pydicom_seg  # noqa: E402

patch_pydicom_seg()

from fusion_label.app import FusionApp  # noqa: E402, F401
