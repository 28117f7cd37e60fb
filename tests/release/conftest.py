# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Fixtures of the release tests: one sdist + wheel per test session, built by ``scripts/release.py dist
--working-tree`` (``python -m build`` on a temporary copy of the files git tracks or would add, so the build writes
nothing into the checkout)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.utils import REPO_ROOT


def load_release_script():
    """``scripts/release.py`` as a module."""
    spec = importlib.util.spec_from_file_location("monai_fusion_release_script", REPO_ROOT / "scripts" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def release_dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The built sdist and wheel of the working tree, and their folder."""
    pytest.importorskip("build", reason="needs the 'build' package: pip install -e '.[dev]'")
    dist = tmp_path_factory.mktemp("release") / "dist"
    built = load_release_script().build_dist(dist, ref=None, check=False)
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1 and sorted(built) == sorted(wheels + sdists), built
    return {"dist": dist, "wheel": wheels[0], "sdist": sdists[0]}
