# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Shared test helpers: skip decorators and access to the real data in ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """Where the real datasets live: ``$MONAI_FUSION_DATA_DIR``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("MONAI_FUSION_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def require_data(*parts: str) -> Path:
    """Return ``shared_data_root() / parts``; skip the test when it is absent.

    With ``MONAI_FUSION_REQUIRE_DATA=1`` (set by ``.ci/run``) a missing dataset fails the test instead, so CI never
    passes by skipping everything.
    """
    path = shared_data_root().joinpath(*parts)
    if not path.exists():
        msg = f"real data not found at {path} (set MONAI_FUSION_DATA_DIR or place ../shared/data beside the repo)"
        if os.environ.get("MONAI_FUSION_REQUIRE_DATA", "0") == "1":
            pytest.fail(msg + "; MONAI_FUSION_REQUIRE_DATA=1 makes this an error")
        pytest.skip(msg)
    return path


skip_if_no_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
skip_if_quick = pytest.mark.skipif(os.environ.get("QUICKTEST", "").lower() in ("1", "true"), reason="QUICKTEST set")


def unique_parameter_count(module: torch.nn.Module) -> int:
    """Number of unique parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def assert_all_parameters_have_grad(module: torch.nn.Module) -> None:
    """Every parameter received a finite, non-zero gradient (catches dead modules and detached branches)."""
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    nonfinite = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not nonfinite, f"non-finite gradients: {nonfinite}"
    zero = [n for n, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() == 0]
    assert not zero, f"parameters whose gradient is exactly zero: {zero}"
