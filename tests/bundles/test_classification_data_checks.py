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
"""Data selection and the checks that run before any training: ``--dataset_dir`` through the catalogue builder, a
missing default dataset, and a datalist with bad files. Only ``initialize()`` runs, so these tests take seconds."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from monai.bundle import ConfigWorkflow

from monai_fusion.data import DatalistValidationError, PublicDatasetUnavailableError
from tests.bundles.classification_cases import config_paths, tiny_datalist, workflow_overrides
from tests.utils import require_data

pytestmark = [pytest.mark.bundle, pytest.mark.data]


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _initialize(name: str, **override) -> ConfigWorkflow:
    workflow = ConfigWorkflow(config_file=config_paths(name, "train.json"), run_id="training", **override)
    workflow.initialize()
    return workflow


def test_dataset_dir_builds_and_saves_the_split(tmp_path: Path) -> None:
    src = require_data("ham10000")
    folder = tmp_path / "ham_subset"
    (folder / "images").mkdir(parents=True)
    with open(src / "HAM10000_metadata.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows, per_class = [], {}
        for row in reader:
            if row["dx"] in ("nv", "mel", "bkl") and per_class.get(row["dx"], 0) < 6:
                per_class[row["dx"]] = per_class.get(row["dx"], 0) + 1
                rows.append(row)
                (folder / "images" / f"{row['image_id']}.jpg").symlink_to(src / "images" / f"{row['image_id']}.jpg")
    with open(folder / "HAM10000_metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "eval"
    workflow = _initialize(
        "hifuse",
        bundle_root=str(tmp_path),
        output_dir=str(out),
        dataset_dir=str(folder),
        split_fractions=[0.5, 0.25, 0.25],
    )
    datalist = workflow.parser.get_parsed_content("datalist_dict")
    assert datalist["name"] == "HAM10000" and datalist["num_classes"] == 7
    n = [len(datalist[s]) for s in ("training", "validation", "test")]
    assert sum(n) == len(rows) and min(n) > 0
    groups = [{item["group"] for item in datalist[s]} for s in ("training", "validation", "test")]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2]), "lesions leak"
    saved = json.loads((out / "datalist.json").read_text())
    assert [len(saved[s]) for s in ("training", "validation", "test")] == n


@pytest.mark.parametrize(("name", "dataset"), [("hifuse", "ham10000"), ("cdfinet", "kvasir_v1")])
def test_missing_default_dataset_stops_at_once(
    name: str, dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONAI_FUSION_DATASETS", str(tmp_path / "datasets"))
    with pytest.raises(SystemExit) as info:  # the run ends with just the message (DataErrorExit)
        _initialize(name, bundle_root=str(tmp_path), output_dir=str(tmp_path / "eval"), download=False)
    cause = _root_cause(info.value)
    assert isinstance(cause, PublicDatasetUnavailableError)
    assert "Get it from" in str(cause) and str(tmp_path / "datasets" / dataset) in str(cause)
    assert not (tmp_path / "models").exists()


def test_bad_files_are_reported_before_training(tmp_path: Path) -> None:
    name = "medmamba"
    datalist_path, classes = tiny_datalist(name, tmp_path / "data")
    datalist = json.loads(datalist_path.read_text())
    truncated = tmp_path / "data" / "truncated.jpeg"
    shutil.copy(datalist["training"][0]["image"], truncated)
    truncated.write_bytes(truncated.read_bytes()[:600])
    datalist["training"][0]["image"] = str(truncated)
    datalist["validation"][0]["image"] = str(tmp_path / "data" / "missing.jpeg")
    datalist_path.write_text(json.dumps(datalist))
    with pytest.raises(SystemExit) as info:
        _initialize(name, **workflow_overrides(name, tmp_path, datalist_path, classes))
    cause = _root_cause(info.value)
    assert isinstance(cause, DatalistValidationError)
    assert {p.path for p in cause.problems} == {str(truncated), str(tmp_path / "data" / "missing.jpeg")}
    assert not (tmp_path / "models").exists(), "nothing may be trained when the data is bad"
