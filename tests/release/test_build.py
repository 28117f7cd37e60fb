# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The release artefacts: ``python -m build`` makes an sdist and a wheel that pass ``twine check``; the wheel holds
the package (every file git lists under ``monai_fusion/``, ``py.typed`` and any C/C++/CUDA source of the custom ops
included) and nothing else; the version has one source, ``monai_fusion.__version__``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser

import pytest

import monai_fusion
from monai_fusion.bundle_zip import listed_files
from tests.utils import REPO_ROOT

C_SOURCE_SUFFIXES = (".c", ".cpp", ".cu", ".cuh", ".h")


def _package_files() -> set[str]:
    """Files of the package in the working tree (git tracks or would add), caches left out."""
    return {
        p.relative_to(REPO_ROOT).as_posix()
        for p in listed_files(REPO_ROOT / "monai_fusion")
        if "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so")
    }


def test_wheel_holds_the_package_and_nothing_else(release_dist: dict) -> None:
    with zipfile.ZipFile(release_dist["wheel"]) as whl:
        names = set(whl.namelist())
    version = monai_fusion.__version__
    dist_info = {n for n in names if n.startswith(f"monai_fusion-{version}.dist-info/")}
    assert f"monai_fusion-{version}.dist-info/METADATA" in dist_info
    assert f"monai_fusion-{version}.dist-info/licenses/LICENSE" in dist_info
    package = names - dist_info
    expected = _package_files()
    assert "monai_fusion/py.typed" in package
    assert package == expected, (
        f"in the wheel only: {sorted(package - expected)}; in the package only: {sorted(expected - package)} "
        "(package data is declared in setup.cfg [options.package_data])"
    )
    c_sources = sorted(n for n in expected if n.endswith(C_SOURCE_SUFFIXES))
    assert set(c_sources) <= package
    for top in ("tests/", "bundles/", "apps/", "scripts/", "docs/"):
        assert not any(n.startswith(top) for n in names), top


def test_sdist_holds_the_package_and_build_files(release_dist: dict) -> None:
    with tarfile.open(release_dist["sdist"]) as sdist:
        names = {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile() and "/" in m.name}
    for required in ("setup.cfg", "pyproject.toml", "LICENSE", "README.md", "CHANGELOG.md", "MANIFEST.in", "PKG-INFO"):
        assert required in names
    package = {n for n in names if n.startswith("monai_fusion/")}
    assert package == _package_files()
    for top in ("tests/", "bundles/", "apps/", "scripts/", "docs/"):
        assert not any(n.startswith(top) for n in names), top


def test_twine_check_passes(release_dist: dict) -> None:
    pytest.importorskip("twine", reason="needs the 'twine' package: pip install -e '.[dev]'")
    files = [str(release_dist["wheel"]), str(release_dist["sdist"])]
    cmd = [sys.executable, "-m", "twine", "check", "--strict", *files]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_version_has_one_source(release_dist: dict) -> None:
    """The wheel's and sdist's version is ``monai_fusion.__version__``; setup.cfg reads it (no second literal), and
    every bundle's ``required_packages_version`` pins this same version of monai-fusion."""
    version = monai_fusion.__version__
    assert release_dist["wheel"].name == f"monai_fusion-{version}-py3-none-any.whl"
    assert release_dist["sdist"].name == f"monai_fusion-{version}.tar.gz"
    with zipfile.ZipFile(release_dist["wheel"]) as whl:
        meta = Parser().parsestr(whl.read(f"monai_fusion-{version}.dist-info/METADATA").decode())
    assert meta["Name"] == "monai-fusion" and meta["Version"] == version
    setup_cfg = (REPO_ROOT / "setup.cfg").read_text()
    assert "version = attr: monai_fusion.__version__" in setup_cfg
    literal = re.compile(r"^\s*version\s*=\s*['\"]?\d", re.MULTILINE)
    assert not literal.search(setup_cfg) and not literal.search((REPO_ROOT / "pyproject.toml").read_text())
    pins = {}
    for meta_file in sorted((REPO_ROOT / "bundles").glob("*/configs/metadata.json")):
        required = json.loads(meta_file.read_text()).get("required_packages_version", {})
        pins[meta_file.parents[1].name] = required.get("monai-fusion")
    assert pins, "no bundle found"
    assert all(pin == version for pin in pins.values()), f"bundle pins of monai-fusion {pins} != {version}"
