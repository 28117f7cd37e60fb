# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Zip round trip of the bundles: ``pack_bundle`` -> ``python -m monai.bundle download --url file://...`` ->
``monai.bundle.load`` -> a forward pass. No weights ship, so a copy of each bundle gets a checkpoint of its network
with fresh weights (tiny widths, the ``TINY_NETWORKS`` overrides) before packing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, download, load

from monai_fusion.bundle_zip import bundle_files, pack_bundle
from monai_fusion.bundle_zip import main as bundle_zip_main
from tests.bundles.classification_cases import IMAGE_SIZE, TINY_NETWORKS, bundle_dir
from tests.utils import REPO_ROOT

#: bundles whose network shrinks to a few MB with TINY_NETWORKS; mfsf2net keeps its real-size timm backbones (60 M
#: parameters, a 240 MB checkpoint), so it is only packed (layout test), not round-tripped with weights
ROUND_TRIP = ("cdfinet", "hifuse", "medmamba")
ALL_BUNDLES = sorted(p.name for p in (REPO_ROOT / "bundles").iterdir() if (p / "configs").is_dir())


@pytest.mark.parametrize("name", ALL_BUNDLES)
def test_zip_layout_is_one_top_folder_named_after_the_bundle(name: str, tmp_path: Path) -> None:
    archive = pack_bundle(bundle_dir(name), tmp_path / f"{name}.zip")
    with zipfile.ZipFile(archive) as z:
        members = z.namelist()
        meta = json.loads(z.read(f"{name}/configs/metadata.json"))
    assert {m.split("/")[0] for m in members} == {name}
    for required in ("configs/metadata.json", "configs/inference.json", "LICENSE", "docs/README.md", "large_files.yml"):
        assert f"{name}/{required}" in members
    assert not any("/models/" in m or "/eval/" in m for m in members), "ignored outputs must stay out of the zip"
    assert meta["version"] == json.loads((bundle_dir(name) / "configs" / "metadata.json").read_text())["version"]


def test_default_zip_goes_to_the_user_folder_not_the_checkout(tmp_path: Path, monkeypatch, capsys) -> None:
    """No --output: the zip lands in $MONAI_FUSION_HOME/dist (the command prints it), not in the checkout."""
    home = tmp_path / "home"
    monkeypatch.setenv("MONAI_FUSION_HOME", str(home))
    monkeypatch.chdir(REPO_ROOT)  # the README's command, from the repository root
    version = json.loads((bundle_dir("cdfinet") / "configs" / "metadata.json").read_text())["version"]
    before = {*REPO_ROOT.glob("*.zip"), *(REPO_ROOT / "bundles").rglob("*.zip")}
    bundle_zip_main(["bundles/cdfinet"])
    expected = home / "dist" / f"cdfinet_v{version}.zip"
    assert expected.is_file() and capsys.readouterr().out.startswith(f"wrote {expected.resolve()} (")
    assert {*REPO_ROOT.glob("*.zip"), *(REPO_ROOT / "bundles").rglob("*.zip")} == before  # nothing new in the checkout
    with zipfile.ZipFile(expected) as z:
        assert "cdfinet/configs/metadata.json" in z.namelist()


def test_default_zip_name_and_bad_input(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MONAI_FUSION_HOME", str(tmp_path / "home"))
    copy = tmp_path / "cdfinet"
    shutil.copytree(bundle_dir("cdfinet"), copy, ignore=shutil.ignore_patterns("models", "eval", "runs"))
    version = json.loads((copy / "configs" / "metadata.json").read_text())["version"]
    assert pack_bundle(copy) == tmp_path / "home" / "dist" / f"cdfinet_v{version}.zip"
    with pytest.raises(FileNotFoundError, match="configs/metadata.json"):
        pack_bundle(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="models/model.pt"):
        bundle_files(copy, include=["models/model.pt"])


def _bundle_with_fresh_weights(name: str, folder: Path) -> tuple[Path, torch.nn.Module]:
    """A copy of bundle ``name`` whose ``models/model.pt`` holds fresh weights of its tiny network."""
    copy = folder / name
    shutil.copytree(bundle_dir(name), copy, ignore=shutil.ignore_patterns("models", "eval", "runs"))
    parser = ConfigParser()
    parser.read_config(str(copy / "configs" / "inference.json"))
    parser.update(TINY_NETWORKS[name])
    parser["bundle_root"] = str(copy)  # not the repository's bundle, whose models/ may hold a local training record
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def").eval()
    (copy / "models").mkdir()
    torch.save(net.state_dict(), copy / "models" / "model.pt")
    return copy, net


@pytest.mark.bundle
@pytest.mark.parametrize("name", ROUND_TRIP)
def test_download_and_load_round_trip(name: str, tmp_path: Path) -> None:
    source, net = _bundle_with_fresh_weights(name, tmp_path / "src")
    archive = pack_bundle(source, tmp_path / "dist" / f"{name}_v0.zip", include=["models/model.pt"])
    target = tmp_path / "downloaded"
    if name == ROUND_TRIP[0]:  # the command users type, once, in a fresh process
        cmd = [sys.executable, "-m", "monai.bundle", "download", "--name", name, "--bundle_dir", str(target)]
        cmd += ["--url", archive.as_uri(), "--progress", "False"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ))
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        download(name=name, bundle_dir=str(target), url=archive.as_uri(), progress=False)
    assert (target / name / "configs" / "metadata.json").is_file()
    assert (target / name / "models" / "model.pt").read_bytes() == (source / "models" / "model.pt").read_bytes()

    overrides = {k.split("#", 1)[1]: v for k, v in TINY_NETWORKS[name].items()}
    loaded = load(name=name, bundle_dir=str(target), workflow_type="inference", device="cpu", net_override=overrides)
    assert isinstance(loaded, torch.nn.Module)
    loaded.eval()
    torch.manual_seed(1)
    x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        expected, actual = net(x), loaded(x)
    n_classes = json.loads((source / "configs" / "metadata.json").read_text())["network_data_format"]["outputs"]
    assert actual.shape == (2, n_classes["pred"]["num_channels"])
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)  # the packed weights, not fresh ones
