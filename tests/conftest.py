# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import os

# OpenMP threads that spin while waiting make tiny-tensor tests crawl when the cores are shared (CI machines, parallel
# jobs); a passive wait policy costs nothing when they are not. It must be set before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


def pytest_configure(config) -> None:
    # the default run targets a 2-core CPU machine; keep intra-op threads bounded
    torch.set_num_threads(min(2, torch.get_num_threads()))
