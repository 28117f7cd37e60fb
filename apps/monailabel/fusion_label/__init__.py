# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Building blocks of the monai-fusion MONAI Label app: bundle discovery, infer and train tasks, the launcher."""

from __future__ import annotations

from .bundles import BundleEntry, MissingWeightsError, bundle_search_dirs, bundle_task_type, resolve_bundles
from .launcher import DEFAULT_HOST, build_start_server_args

__all__ = [
    "DEFAULT_HOST",
    "BundleEntry",
    "MissingWeightsError",
    "build_start_server_args",
    "bundle_search_dirs",
    "bundle_task_type",
    "resolve_bundles",
]
