# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Import-time compatibility of MONAI Label 0.8.5 with pydicom 3.

MONAI Label's HTTP endpoints import ``pydicom_seg`` (DICOM-SEG conversion) when the server starts. ``pydicom-seg``
0.4.1, its newest release, imports ``pydicom._storage_sopclass_uids``, a private module that pydicom 3 (which
monai-fusion needs) replaced by ``pydicom.uid``; without it the server cannot start. :func:`patch_pydicom_seg`
registers ``pydicom.uid`` under the old name before MONAI Label is imported. The UIDs it needs
(``SegmentationStorage``...) keep their names in ``pydicom.uid``.
"""

from __future__ import annotations

import importlib.util
import sys

OLD_UID_MODULE = "pydicom._storage_sopclass_uids"


def patch_pydicom_seg() -> bool:
    """Alias ``pydicom._storage_sopclass_uids`` to ``pydicom.uid`` when the old module is missing.

    Returns:
        True when the alias was added, False when nothing was needed (pydicom 2, or already patched).
    """
    if OLD_UID_MODULE in sys.modules:
        return False
    try:
        if importlib.util.find_spec(OLD_UID_MODULE) is not None:
            return False
    except ModuleNotFoundError:  # pydicom itself is missing: nothing to patch
        return False
    import pydicom.uid

    sys.modules[OLD_UID_MODULE] = pydicom.uid
    return True
