# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""pytest settings for the zoo-style tests when run in this repository (the zoo's runner does not read this file)."""

from __future__ import annotations

import os

# as tests/conftest.py: OpenMP threads that spin while waiting make small-tensor work crawl on shared cores; this must
# be set before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


def pytest_configure(config) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every zoo-style test ``bundle`` (deselect them with ``-m "not bundle"``)."""
    import pytest

    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.bundle)
