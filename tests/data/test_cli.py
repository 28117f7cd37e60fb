# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The command line, end to end on the real HAM10000 folder, plus its error exits."""

from __future__ import annotations

import io
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from monai.data import load_decathlon_datalist

from monai_fusion.data.cli import format_split_table, prepare_data_main
from tests.data.standins import write_image
from tests.utils import REPO_ROOT, require_data


def _run(argv):
    out = io.StringIO()
    return prepare_data_main(argv, out=out), out.getvalue()


def test_prepare_ham10000_end_to_end(tmp_path, capsys):
    ham = require_data("ham10000")
    output = tmp_path / "splits" / "ham10000.json"
    argv = ["prepare", "ham10000", "--dataset-dir", str(ham), "--output", str(output), "--seed", "3"]
    code, text = _run([*argv, "--with-masks", "--relative-paths", "--no-decode", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "grouped by lesion_id" in text and "validated 8544 items: no problems" in text
    nv_row = next(line for line in text.splitlines() if line.startswith("nv "))
    assert nv_row.split()[-1] == "5734"  # all nv images, over the three splits
    total_row = next(line for line in text.splitlines() if line.startswith("total"))
    totals = [int(v) for v in total_row.split()[1:]]
    assert totals[3] == sum(totals[:3]) == 8544 and abs(totals[0] - 0.8 * 8544) < 0.005 * 8544

    raw = json.loads(output.read_text())
    assert raw["split"]["seed"] == 3 and not raw["training"][0]["image"].startswith("/")
    loaded = load_decathlon_datalist(output, is_segmentation=False, data_list_key="validation")
    assert len(loaded) == raw["numValidation"]
    # paths name the real files, whether ../shared (or a folder above it) is a symlink or not
    for item in loaded:
        assert Path(item["image"]).is_file() and Path(item["image"]).resolve().is_relative_to(ham.resolve())
    assert format_split_table(raw) in text

    code, text = _run(["validate", str(output), "--no-decode", "--no-progress"])
    assert code == 0 and "8544 items, no problems" in text
    code, text = _run(["table", str(output)])
    assert code == 0 and text.startswith("HAM10000: grouped_stratified split, seed 3")


def _image_folder(root: Path, per_class: int = 5) -> Path:
    for c, name in enumerate(("benign", "malignant")):
        for k in range(per_class):
            write_image(root / name / f"{name}_{k}.png", seed=10 * c + k)
    return root


def test_prepare_without_output_writes_to_the_user_folder_and_says_where(tmp_path, monkeypatch):
    """No --output: the datalist goes to $MONAI_FUSION_HOME/datalists/<source>.json, not the working directory."""
    data = _image_folder(tmp_path / "data")
    monkeypatch.setenv("MONAI_FUSION_HOME", str(tmp_path / "home"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    code, text = _run(["prepare", "imagefolder", "--dataset-dir", str(data), "--no-progress"])
    expected = tmp_path / "home" / "datalists" / "imagefolder.json"
    assert code == 0 and text.splitlines()[-1] == f"wrote {expected}"
    assert json.loads(expected.read_text())["numTraining"] == 8 and not any(cwd.iterdir())
    code, text = _run(["prepare", "imagefolder", "--dataset-dir", str(data), "--folds", "2", "--no-validate"])
    assert code == 0 and text.splitlines()[-1] == f"wrote {tmp_path / 'home' / 'datalists' / 'imagefolder_2fold.json'}"


def test_prepare_through_symlinked_folders(tmp_path):
    """The data folder and the output folder reached through symlinks (as ../shared often is): relative paths still
    lead MONAI's loader to the real files."""
    real = _image_folder(tmp_path / "disk" / "deep" / "images")
    (tmp_path / "data").symlink_to(real, target_is_directory=True)
    (tmp_path / "disk" / "out").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "out").symlink_to(tmp_path / "disk" / "out", target_is_directory=True)
    output = tmp_path / "a" / "b" / "out" / "split.json"  # the link is deeper than its target
    argv = ["prepare", "imagefolder", "--dataset-dir", str(tmp_path / "data"), "--output", str(output)]
    code, text = _run([*argv, "--relative-paths", "--no-progress"])
    assert code == 0 and text.splitlines()[-1] == f"wrote {output}"
    for section in ("training", "validation", "test"):
        loaded = load_decathlon_datalist(output, is_segmentation=False, data_list_key=section)
        for item in loaded:
            assert os.path.isfile(item["image"]) and Path(item["image"]).resolve().parent.parent == real.resolve()
    code, _ = _run(["validate", str(output), "--no-progress"])
    assert code == 0


def test_prepare_with_folds(tmp_path):
    ham = require_data("ham10000")
    output = tmp_path / "ham_5fold.json"
    argv = ["prepare", "ham10000", "--dataset-dir", str(ham), "--output", str(output), "--folds", "5"]
    code, text = _run([*argv, "--no-validate"])
    assert code == 0 and "fold 4" in text.splitlines()[1]
    assert {r["fold"] for r in json.loads(output.read_text())["training"]} == {0, 1, 2, 3, 4}


def test_validate_reports_every_problem(tmp_path, capsys):
    ham = require_data("ham10000")
    output = tmp_path / "ham.json"
    assert _run(["prepare", "ham10000", "--dataset-dir", str(ham), "--output", str(output), "--no-validate"])[0] == 0
    raw = json.loads(output.read_text())
    raw["training"][0]["image"] = str(tmp_path / "lost.jpg")
    raw["test"][0]["label"] = 11
    output.write_text(json.dumps(raw))
    code, _ = _run(["validate", str(output), "--no-decode", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "2 problem(s)" in err and "lost.jpg" in err and "unknown label 11" in err


def test_errors_exit_with_a_message(tmp_path, capsys):
    code, _ = _run(["prepare", "kvasir_v2", "--root", str(tmp_path), "--output", str(tmp_path / "k.json")])
    err = capsys.readouterr().err
    assert code == 1 and "https://datasets.simula.no/kvasir/" in err and str(tmp_path / "kvasir_v2") in err
    ham = require_data("ham10000")
    code, _ = _run(["prepare", "ham10000", "--dataset-dir", str(ham), "--output", "x.json", "--label-level", "binary"])
    assert code == 2 and "--label-level is not an option for ham10000" in capsys.readouterr().err
    code, _ = _run(["prepare", "imagefolder", "--output", str(tmp_path / "x.json")])
    assert code == 2 and "needs --dataset-dir" in capsys.readouterr().err


def test_list_and_info():
    code, text = _run(["list"])
    assert code == 0 and len(text.splitlines()) == 11  # 10 + msd_spleen (the public CT segmentation set)
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert "manual" in lines["ham10000"] and "download" in lines["isic2019"] and "download" in lines["msd_spleen"]
    code, text = _run(["info", "kvasir_seg"])
    assert code == 0 and "sha256 03b30e21" in text and "Jha D" in text
    code, text = _run(["info", "breakhis"])
    assert "checksum unknown" in text and "BreaKHis_v1.tar.gz" in text


@pytest.mark.parametrize("entry", ["module", "script"])
def test_entry_points(monkeypatch, capsys, entry):
    monkeypatch.setattr(sys, "argv", ["prepare_data", "list"])
    with pytest.raises(SystemExit) as exit_info:
        if entry == "module":
            runpy.run_module("monai_fusion.data", run_name="__main__")
        else:
            runpy.run_path(str(REPO_ROOT / "scripts" / "prepare_data.py"), run_name="__main__")
    assert exit_info.value.code == 0 and "ham10000" in capsys.readouterr().out


@pytest.mark.slow
def test_prepare_ham10000_full_decode_subprocess(tmp_path):
    ham = require_data("ham10000")
    output = tmp_path / "ham.json"
    cmd = [sys.executable, "-m", "monai_fusion.data", "prepare", "ham10000", "--dataset-dir", str(ham)]
    result = subprocess.run(
        [*cmd, "--with-masks", "--output", str(output), "--no-progress"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "validated 8544 items: no problems" in result.stdout and output.is_file()
