# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Fixtures of the release tests: one sdist + wheel per test session, built from a copy of the working tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monai_fusion.bundle_zip import listed_files
from tests.utils import REPO_ROOT


def _build(source: Path, outdir: Path) -> subprocess.CompletedProcess:
    """``python -m build`` (sdist, then the wheel from the sdist); isolated when the package index answers."""
    cmd = [sys.executable, "-m", "build", "--outdir", str(outdir), str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and "Could not find a version" in result.stdout + result.stderr:
        # offline without a package index: build with the setuptools already installed here
        result = subprocess.run(cmd + ["--no-isolation", "--skip-dependency-check"], capture_output=True, text=True)
    return result


@pytest.fixture(scope="session")
def release_dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build the sdist and the wheel from a copy of the files git tracks or would add (so the build writes nothing
    into the checkout: no ``*.egg-info``, no ``build/``) and return their paths and the copied tree."""
    pytest.importorskip("build", reason="needs the 'build' package: pip install -e '.[dev]'")
    root = tmp_path_factory.mktemp("release")
    source = root / "src"
    for path in listed_files(REPO_ROOT):
        target = source / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    dist = root / "dist"
    result = _build(source, dist)
    assert result.returncode == 0, f"python -m build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return {"source": source, "dist": dist, "wheel": wheels[0], "sdist": sdists[0]}
