# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Start the monai-fusion MONAI Label server, bound to 127.0.0.1 unless ``--host`` says otherwise.

Usage (from the repository root)::

    python apps/monailabel/serve.py --studies STUDIES_DIR --conf models mfsf2net,mfsf2net_segmentation

Every ``monailabel start_server`` option is accepted; see ``docs/monailabel.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fusion_label.launcher import main

    main()
