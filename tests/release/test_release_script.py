# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``scripts/release.py bundle``: the zip carries ``models/model.pt`` when it exists, and ``--weights-url`` writes the
``large_files.yml`` entry that ``python -m monai.bundle download_large_files`` then uses to fetch the same file.

Runs on a temporary copy of the cdfinet bundle with a tiny fake ``models/model.pt``; the URL is a ``file://`` URL of
a copy of that file, so the download round trip is real and offline."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from monai.bundle import download_large_files

from tests.release.conftest import load_release_script
from tests.utils import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "release.py"


def _release(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO_ROOT)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    copy = tmp_path / "cdfinet"
    shutil.copytree(REPO_ROOT / "bundles" / "cdfinet", copy, ignore=shutil.ignore_patterns("eval", "models", "runs"))
    return copy


def _fake_weights(bundle: Path) -> Path:
    weights = bundle / "models" / "model.pt"
    weights.parent.mkdir()
    torch.save({"stem.weight": torch.arange(6.0).reshape(2, 3)}, weights)
    return weights


def test_zip_packs_weights_and_large_files_entry_downloads_them(bundle: Path, tmp_path: Path) -> None:
    weights = _fake_weights(bundle)
    uploaded = tmp_path / "host" / "cdfinet_model.pt"  # stands for the upload: same bytes, reachable by URL
    uploaded.parent.mkdir()
    shutil.copyfile(weights, uploaded)
    result = _release("bundle", str(bundle), "--outdir", str(tmp_path / "out"), "--weights-url", uploaded.as_uri())
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip().splitlines()[-1])
    version = json.loads((bundle / "configs" / "metadata.json").read_text())["version"]
    assert archive == tmp_path / "out" / f"cdfinet_v{version}.zip"

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    entries = yaml.safe_load((bundle / "large_files.yml").read_text())["large_files"]
    assert entries == [{"path": "models/model.pt", "url": uploaded.as_uri(), "hash_val": digest, "hash_type": "sha256"}]
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("cdfinet/models/model.pt") == weights.read_bytes()
        assert yaml.safe_load(zf.read("cdfinet/large_files.yml"))["large_files"] == entries
        zf.extractall(tmp_path / "unpacked")

    # a user without the weights: download_large_files fetches them from the URL and checks the sha256
    unpacked = tmp_path / "unpacked" / "cdfinet"
    (unpacked / "models" / "model.pt").unlink()
    download_large_files(bundle_path=str(unpacked))  # python -m monai.bundle download_large_files --bundle_path
    assert hashlib.sha256((unpacked / "models" / "model.pt").read_bytes()).hexdigest() == digest

    # a second release replaces the entry instead of adding one
    moved = tmp_path / "host" / "v2.pt"
    shutil.copyfile(weights, moved)
    load_release_script().release_bundle(bundle, tmp_path / "out", weights_url=moved.as_uri())
    entries = yaml.safe_load((bundle / "large_files.yml").read_text())["large_files"]
    assert [e["url"] for e in entries] == [moved.as_uri()]


def test_zip_without_weights_and_errors(bundle: Path, tmp_path: Path) -> None:
    release = load_release_script()
    before = (bundle / "large_files.yml").read_text()
    with zipfile.ZipFile(release.release_bundle(bundle, tmp_path / "out")) as zf:
        names = zf.namelist()
    assert "cdfinet/configs/metadata.json" in names
    assert not [n for n in names if n.startswith("cdfinet/models/")]

    url = (tmp_path / "host" / "model.pt").as_uri()
    with pytest.raises(FileNotFoundError, match="models/model.pt: no such file"):
        release.release_bundle(bundle, tmp_path / "out", weights_url=url)
    _fake_weights(bundle)
    with pytest.raises(ValueError, match="not an http\\(s\\) or file URL"):
        release.release_bundle(bundle, tmp_path / "out", weights_url="model.pt")
    assert (bundle / "large_files.yml").read_text() == before
    with pytest.raises(FileNotFoundError, match="no configs/metadata.json"):
        release.release_bundle(tmp_path, tmp_path / "out")
    # the command line reports errors on stderr with exit status 1
    assert release.main(["bundle", str(tmp_path), "--outdir", str(tmp_path / "out")]) == 1
