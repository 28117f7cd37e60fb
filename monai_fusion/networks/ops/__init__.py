# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Numerical kernels with a reference path and optional fast paths (a fused C selective scan built on first use, and
mamba-ssm's CUDA kernel). The only place that touches native or CUDA extensions."""

from __future__ import annotations

from .haar_dwt import HaarDWT2d, HaarIDWT2d, haar_dwt2d, haar_filters, haar_idwt2d
from .selective_scan import (
    SCAN_BACKEND_ENV,
    SCAN_BACKENDS,
    default_chunk_size,
    is_cpu_scan_available,
    is_cuda_scan_available,
    selective_scan,
    selective_scan_flops,
    selective_scan_reference,
    selective_scan_torch,
)
