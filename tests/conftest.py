# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
from __future__ import annotations

import torch


def pytest_configure(config) -> None:  # noqa: ARG001
    # the default run targets a 2-core CPU machine; keep intra-op threads bounded and results reproducible
    torch.set_num_threads(min(2, torch.get_num_threads()))
