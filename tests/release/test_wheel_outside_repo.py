# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Every bundle runs from its zip, outside the repository, with only the built wheel installed.

1. A fresh virtual environment is created (``python -m venv --without-pip``). So that pip finds torch, MONAI and the
   other dependencies already installed (installing them would take minutes and gigabytes), a ``.pth`` file puts on
   its path a folder of symbolic links to every entry of this environment's site-packages *except* monai-fusion's
   editable install (its ``.pth``/finder and its ``.dist-info``, which pip would otherwise take as monai-fusion being
   installed). ``import monai_fusion`` is checked to fail there.
2. The wheel is installed the zoo's way, ``pip install --no-index --find-links <dist> monai-fusion==<version>``
   (``--no-index``: nothing but the wheel is fetched), and ``monai_fusion`` then imports from the fresh venv.
3. Each bundle is packed with ``python -m monai_fusion.bundle_zip`` from the checkout and unpacked in a temporary
   folder; ``zoo_bundle_checks.py`` runs, with the fresh venv's Python from a temporary working directory and no
   ``PYTHONPATH``: ``verify_metadata`` (offline schema), ``verify_net_in_out``, a random-init ``models/model.pt``,
   ``ckpt_export`` in script mode (as the zoo's ``ci/verify_bundle.py``; its output is compared with the eager
   network), and ``configs/inference.json`` on two real images per bundle (Kvasir-SEG for the GI bundles, HAM10000 for
   the skin bundles).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import monai_fusion
from tests.utils import REPO_ROOT, require_data, shared_data_root

pytestmark = [pytest.mark.bundle, pytest.mark.data]

BUNDLES = ("cdfinet", "hifuse", "medmamba", "mfsf2net", "mfsf2net_segmentation")
#: real images per bundle: (dataset folder under ../shared/data, its image sub-folder)
IMAGES = {
    "cdfinet": "kvasir_seg",
    "medmamba": "kvasir_seg",
    "mfsf2net_segmentation": "kvasir_seg",
    "hifuse": "ham10000",
    "mfsf2net": "ham10000",
}
NUM_IMAGES = 2
SCHEMA_NAME = "meta_schema_20240725.json"
_EDITABLE_PREFIXES = ("__editable__", "monai_fusion")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update({"OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONNOUSERSITE": "1"})
    return env


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fresh_venv(release_dist: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A fresh venv that sees this environment's dependencies but not monai-fusion, then the wheel installed."""
    root = tmp_path_factory.mktemp("fresh")
    venv = root / "venv"
    result = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    outer = Path(sysconfig.get_paths()["purelib"])
    shadow = root / "dependencies"
    shadow.mkdir()
    for entry in outer.iterdir():
        if entry.name.startswith(_EDITABLE_PREFIXES) or entry.suffix == ".pth" or entry.name == "__pycache__":
            continue
        (shadow / entry.name).symlink_to(entry)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root)
    Path(purelib.stdout.strip(), "zz_dependencies.pth").write_text(f"{shadow}\n")

    work = root / "work"
    work.mkdir()
    before = _run([str(python), "-c", "import monai_fusion"], work)
    version = monai_fusion.__version__
    install = _run(
        [
            str(python), "-m", "pip", "install", "--no-index", "--find-links", str(release_dist["dist"]),
            f"monai-fusion=={version}",
        ],
        work,
    )  # fmt: skip
    after = _run([str(python), "-c", "import monai_fusion, sys; print(monai_fusion.__file__)"], work)
    yield {"python": python, "venv": venv, "work": work, "before": before, "install": install, "after": after}
    shutil.rmtree(root, ignore_errors=True)  # the suite must not fill the disk


def test_fresh_venv_sees_only_the_wheel(fresh_venv: dict) -> None:
    before, install, after = fresh_venv["before"], fresh_venv["install"], fresh_venv["after"]
    assert before.returncode != 0 and "No module named 'monai_fusion'" in before.stderr, before.stderr
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert f"Successfully installed monai-fusion-{monai_fusion.__version__}" in install.stdout, install.stdout
    assert after.returncode == 0, after.stderr
    installed = Path(after.stdout.strip()).resolve()
    assert installed.is_relative_to(fresh_venv["venv"].resolve()), installed
    assert not installed.is_relative_to(REPO_ROOT.resolve())


def _copy_images(name: str, folder: Path) -> list[Path]:
    """Copy the first real images for ``name`` into ``folder``; none when the data are absent (then only the
    inference test skips, through ``require_data``)."""
    source = shared_data_root() / IMAGES[name] / "images"
    if not source.is_dir():
        return []
    folder.mkdir(parents=True)
    picked = sorted(source.glob("*.jpg"))[:NUM_IMAGES]
    for path in picked:
        shutil.copyfile(path, folder / path.name)
    return [folder / p.name for p in picked]


@pytest.fixture(scope="module")
def zoo_results(fresh_venv: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Pack, unpack and check every bundle with the fresh venv (one process); the parsed results JSON."""
    assert fresh_venv["after"].returncode == 0, "the wheel is not installed in the fresh venv"
    root = tmp_path_factory.mktemp("zoo")
    zips, bundles, inputs, work = root / "zips", root / "bundles", root / "inputs", fresh_venv["work"]
    images = {name: _copy_images(name, inputs / name) for name in BUNDLES}
    for name in BUNDLES:
        out = zips / f"{name}.zip"
        packed = subprocess.run(
            [sys.executable, "-m", "monai_fusion.bundle_zip", f"bundles/{name}", "--output", str(out)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert packed.returncode == 0, packed.stderr
        with zipfile.ZipFile(out) as archive:
            archive.extractall(bundles)
        assert (bundles / name / "configs" / "metadata.json").is_file()
    schema = REPO_ROOT.parent / "shared" / "monai" / SCHEMA_NAME
    script = work / "zoo_bundle_checks.py"
    shutil.copyfile(Path(__file__).with_name("zoo_bundle_checks.py"), script)
    output = root / "results.json"
    cmd = [str(fresh_venv["python"]), str(script), "--bundles", str(bundles), "--names", *BUNDLES]
    cmd += ["--inputs", str(inputs), "--output", str(output)]
    if schema.is_file():
        cmd += ["--schema", str(schema)]
    result = _run(cmd, work, timeout=1800)
    assert result.returncode == 0 and output.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads(output.read_text())
    results.update(bundles_dir=bundles, images=images, schema=schema)
    yield results
    shutil.rmtree(root, ignore_errors=True)  # unpacked bundles and their checkpoints: the suite must not fill the disk


def test_checks_ran_from_the_wheel_outside_the_checkout(zoo_results: dict, fresh_venv: dict) -> None:
    env = zoo_results["environment"]
    assert Path(env["monai_fusion_file"]).resolve().is_relative_to(fresh_venv["venv"].resolve())
    assert env["monai_fusion_version"] == monai_fusion.__version__
    repo = str(REPO_ROOT.resolve())
    assert not [p for p in env["sys_path"] if p and str(Path(p).resolve()).startswith(repo)], env["sys_path"]


def _assert_ok(zoo_results: dict, name: str, step: str) -> dict:
    record = zoo_results["bundles"][name][step]
    assert record["status"] == "ok", f"{name} {step}: {record['detail']}"
    return record


@pytest.mark.parametrize("name", BUNDLES)
def test_verify_metadata(zoo_results: dict, name: str) -> None:
    if zoo_results["bundles"][name]["metadata"]["status"] == "skip":
        msg = f"offline schema not found at {zoo_results['schema']}"
        if os.environ.get("MONAI_FUSION_REQUIRE_DATA", "0") == "1":
            pytest.fail(msg + "; MONAI_FUSION_REQUIRE_DATA=1 makes this an error")
        pytest.skip(msg)
    assert _assert_ok(zoo_results, name, "metadata")["detail"] == SCHEMA_NAME


@pytest.mark.parametrize("name", BUNDLES)
def test_verify_net_in_out(zoo_results: dict, name: str) -> None:
    _assert_ok(zoo_results, name, "net_in_out")


@pytest.mark.parametrize("name", BUNDLES)
def test_torchscript_export_in_script_mode(zoo_results: dict, name: str) -> None:
    _assert_ok(zoo_results, name, "weights")
    detail = _assert_ok(zoo_results, name, "torchscript")["detail"]
    assert detail.startswith("max abs diff")
    assert (zoo_results["bundles_dir"] / name / "models" / "model.ts").stat().st_size > 0


@pytest.mark.parametrize("name", BUNDLES)
def test_inference_on_real_images(zoo_results: dict, name: str) -> None:
    require_data(IMAGES[name], "images")
    _assert_ok(zoo_results, name, "inference")
    out = zoo_results["bundles_dir"] / name / "eval" / "inference"
    images = zoo_results["images"][name]
    if name == "mfsf2net_segmentation":
        masks = sorted(out.rglob("*_mask.png"))
        assert len(masks) == len(images), sorted(str(p) for p in out.rglob("*"))
        for image, mask in zip(images, sorted(masks, key=lambda p: p.name)):
            assert mask.name.startswith(image.stem)
            with Image.open(image) as src, Image.open(mask) as pred:
                assert pred.size == src.size
                values = set(np.unique(np.asarray(pred)).tolist())
            assert values <= {0, 255}, values
        return
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert sorted(r[0] for r in rows) == sorted(str(p) for p in images)
    probs = np.asarray([[float(v) for v in r[1:]] for r in rows])
    classes = json.loads((zoo_results["bundles_dir"] / name / "configs" / "metadata.json").read_text())
    num_classes = classes["network_data_format"]["outputs"]["pred"]["num_channels"]
    assert probs.shape == (len(images), num_classes)
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
