# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``scripts/verify_bundles.py``: the model-zoo gates of every bundle pass (run as CI runs it, in a subprocess), and
broken copies of a bundle fail with the reason in the table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import REPO_ROOT, require_data

SCRIPT = REPO_ROOT / "scripts" / "verify_bundles.py"
CHECKS = ("files", "weights", "version", "metadata", "pins", "net_in_out", "torchscript", "json", "size")
BUNDLES = sorted(p.name for p in (REPO_ROOT / "bundles").iterdir() if (p / "configs").is_dir())


def _schema() -> Path:
    schema = require_data().parent / "monai" / "meta_schema_20240725.json"
    if not schema.is_file():
        if os.environ.get("MONAI_FUSION_REQUIRE_DATA", "0") == "1":
            pytest.fail(f"{schema} not found; MONAI_FUSION_REQUIRE_DATA=1 makes this an error")
        pytest.skip(f"{schema} not found")
    return schema


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900, cwd=REPO_ROOT, env=env
    )


@pytest.mark.slow
@pytest.mark.bundle
def test_every_bundle_passes_the_zoo_checks() -> None:
    done = _run("--schema", str(_schema()), "--fast")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "| " + " | ".join(("bundle", *CHECKS)) + " |"
    for name in BUNDLES:
        row = next(line for line in lines if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert dict(zip(CHECKS, cells)) == {**dict.fromkeys(CHECKS, "PASS"), "weights": "NOTE"}, row
        assert f"NOTE {name} / weights: models/model.pt not shipped" in done.stdout
        assert f"PASS {name} / torchscript: fresh weights" in done.stdout
    assert "| (repository) |" in done.stdout and "0 failing check(s)" in done.stdout


def test_broken_bundle_copies_fail_with_the_reason(tmp_path: Path) -> None:
    for name in ("bad_version", "bad_json", "bad_pins"):
        shutil.copytree(
            REPO_ROOT / "bundles" / "cdfinet", tmp_path / name, ignore=shutil.ignore_patterns("models", "eval", "runs")
        )
    meta_path = "configs/metadata.json"
    meta = json.loads((tmp_path / "bad_version" / meta_path).read_text())
    meta["version"] = "0.2.0"  # no changelog entry
    (tmp_path / "bad_version" / meta_path).write_text(json.dumps(meta, indent=4) + "\n")
    (tmp_path / "bad_json" / "configs" / "extra.json").write_text('{"b": 1,\n  "a": 2}\n')  # 2-space indent
    meta = json.loads((tmp_path / "bad_pins" / meta_path).read_text())
    meta["numpy_version"] = "2.4.6"  # no CPython 3.10 wheel
    (tmp_path / "bad_pins" / meta_path).write_text(json.dumps(meta, indent=4) + "\n")
    (tmp_path / "bad_pins" / "LICENSE").unlink()
    done = _run("--bundles-dir", str(tmp_path), "--checks", "files", "version", "pins", "json", "--no-repo-row")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL bad_version / version: version 0.2.0 has no changelog entry" in done.stdout
    assert "FAIL bad_json / json: not 4-space pretty-printed with kept key order: configs/extra.json" in done.stdout
    assert "FAIL bad_pins / pins: numpy==2.4.6 has no CPython 3.10 wheel" in done.stdout
    assert "FAIL bad_pins / files: missing LICENSE" in done.stdout
    assert "| bad_version | PASS | FAIL | PASS | PASS |" in done.stdout


def test_missing_schema_is_a_clear_error(tmp_path: Path) -> None:
    done = _run("--schema", str(tmp_path / "nope.json"), "--checks", "files")
    assert done.returncode == 2
    assert "nope.json not found" in done.stderr and "--schema PATH" in done.stderr


def _git(cwd: Path, *args: str) -> None:
    cmd = ["git", "-c", "user.email=t@example.com", "-c", "user.name=test", "-c", "commit.gpgsign=false", *args]
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def test_leftovers_of_earlier_runs_change_no_result(tmp_path: Path) -> None:
    """A checkout (a git copy in tmp_path) where earlier runs left a 2 MiB datalist in the root, a trained
    models/model.pt with a training record of a 3-class network, and an untracked, badly formatted JSON in the
    bundle: every check reports exactly what the repository holds. Control: once the big file is committed, the size
    check fails."""
    checkout = tmp_path / "checkout"
    bundle = checkout / "bundles" / "cdfinet"
    shutil.copytree(REPO_ROOT / "bundles" / "cdfinet", bundle, ignore=shutil.ignore_patterns("models", "eval", "runs"))
    shutil.copy(REPO_ROOT / ".gitignore", checkout / ".gitignore")
    _git(checkout, "init", "-q")
    _git(checkout, "add", ".")
    _git(checkout, "commit", "-q", "-m", "bundle")
    (checkout / "ham10000.json").write_text(json.dumps({"training": ["x" * 100] * 21000}))  # > 1 MiB
    (bundle / "models").mkdir()
    (bundle / "models" / "model.pt").write_bytes(b"\0" * 2048)
    record = {"network_def": {"_target_": "monai_fusion.networks.nets.CDFINet", "in_channels": 3, "out_channels": 3}}
    (bundle / "models" / "training_record.json").write_text(json.dumps({**record, "class_names": ["a", "b", "c"]}))
    (bundle / "configs" / "scratch.json").write_text('{"b": 1,\n  "a": 2}\n')
    args = ("--bundles-dir", str(checkout / "bundles"), "--repo-root", str(checkout), "--schema", str(_schema()))
    done = _run(*args, "--fast", "--checks", "files", "weights", "json", "size", "net_in_out")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| cdfinet | PASS | NOTE | PASS | PASS | PASS |" in done.stdout
    assert "NOTE cdfinet / weights: models/model.pt not shipped" in done.stdout
    assert "a local, untracked models/model.pt is not counted" in done.stdout
    assert "| (repository) | - | - | - | PASS | - |" in done.stdout

    _git(checkout, "add", "ham10000.json")
    _git(checkout, "commit", "-q", "-m", "a big file")
    done = _run(*args, "--checks", "size")
    assert done.returncode == 1 and "FAIL (repository) / size: over 1 MiB: ham10000.json" in done.stdout
