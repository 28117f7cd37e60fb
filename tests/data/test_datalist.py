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
"""build_split_datalist / save_datalist_json / select_datalist_fold, and loading through MONAI."""

from __future__ import annotations

import json

import pytest
from monai.data import load_decathlon_datalist

from monai_fusion.data.datalist import build_split_datalist, save_datalist_json, select_datalist_fold


def _records(tmp_path, n_groups=60):
    records = []
    for g in range(n_groups):
        for k in range(1 + g % 3):
            image = tmp_path / "images" / f"case{g}_{k}.png"
            records.append({"image": str(image), "label": int(g % 4 == 0), "case_id": f"{g}_{k}", "group": f"p{g}"})
    return records


def test_structure_counts_and_monai_loading(tmp_path):
    records = _records(tmp_path)
    datalist = build_split_datalist(records, ["neg", "pos"], name="toy", seed=1, metadata={"licence": "none"})
    assert datalist["class_names"] == ["neg", "pos"] and datalist["num_classes"] == 2
    assert datalist["labels"] == {"0": "neg", "1": "pos"} and datalist["licence"] == "none"
    assert datalist["split"] == {
        "method": "grouped_stratified",
        "seed": 1,
        "fractions": [0.8, 0.1, 0.1],
        "folds": None,
        "group_key": "group",
    }
    for section in ("training", "validation", "test"):
        items = datalist[section]
        expected = {"neg": sum(r["label"] == 0 for r in items), "pos": sum(r["label"] == 1 for r in items)}
        assert datalist["class_counts"][section] == expected
    assert datalist["numTraining"] + datalist["numValidation"] + datalist["numTest"] == len(records)

    path = save_datalist_json(datalist, tmp_path / "out" / "datalist.json")
    for section in ("training", "validation", "test"):
        loaded = load_decathlon_datalist(path, is_segmentation=False, data_list_key=section)
        assert [r["case_id"] for r in loaded] == [r["case_id"] for r in datalist[section]]
        assert all(r["image"].startswith(str(tmp_path)) for r in loaded)


def test_relative_paths_resolve_with_base_dir(tmp_path):
    datalist = build_split_datalist(_records(tmp_path), ["neg", "pos"], name="toy")
    path = save_datalist_json(datalist, tmp_path / "splits" / "toy.json", relative_to=tmp_path)
    raw = json.loads(path.read_text())
    assert raw["training"][0]["image"].startswith("images/") and "dataset_dir" not in raw
    loaded = load_decathlon_datalist(path, is_segmentation=False, data_list_key="training", base_dir=tmp_path)
    assert [r["image"] for r in loaded] == [r["image"] for r in datalist["training"]]


def test_kfold_datalist_and_fold_selection(tmp_path):
    records = _records(tmp_path, n_groups=100)
    datalist = build_split_datalist(records, ["neg", "pos"], name="toy", folds=4)
    assert datalist["split"]["method"] == "grouped_stratified_kfold" and datalist["validation"] == []
    folds = {r["fold"] for r in datalist["training"]}
    assert folds == {0, 1, 2, 3} and all("fold" not in r for r in datalist["test"])
    assert sum(sum(c.values()) for c in datalist["fold_class_counts"].values()) == datalist["numTraining"]
    fold2 = select_datalist_fold(datalist, 2)
    assert {r["fold"] for r in fold2["validation"]} == {2} and 2 not in {r["fold"] for r in fold2["training"]}
    assert fold2["test"] == datalist["test"] and fold2["split"]["fold"] == 2
    val_groups = {r["group"] for r in fold2["validation"]}
    assert not val_groups & {r["group"] for r in fold2["training"] + fold2["test"]}
    with pytest.raises(ValueError, match="fold must be"):
        select_datalist_fold(datalist, 4)
    with pytest.raises(ValueError, match="no folds"):
        select_datalist_fold(build_split_datalist(records, ["neg", "pos"], name="toy"), 0)


def test_segmentation_counts_cases(tmp_path):
    records = [{"image": f"i{k}.png", "label": f"m{k}.png", "case_id": str(k), "group": str(k)} for k in range(20)]
    datalist = build_split_datalist(records, ["background", "polyp"], name="seg", task="segmentation")
    assert datalist["class_counts"] == {"training": {"polyp": 16}, "validation": {"polyp": 2}, "test": {"polyp": 2}}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "detection"}, "task"),
        ({"fractions": (0.5, 0.5)}, "fractions"),
        ({"folds": 1}, "folds"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_split_datalist(_records(tmp_path), ["neg", "pos"], name="toy", **kwargs)


def test_duplicate_case_ids_and_empty_input_are_rejected(tmp_path):
    records = _records(tmp_path)
    with pytest.raises(ValueError, match="unique"):
        build_split_datalist(records + records[:1], ["neg", "pos"], name="toy")
    with pytest.raises(ValueError, match="no records"):
        build_split_datalist([], ["neg", "pos"], name="toy")
    records[3]["label"] = 2
    with pytest.raises(ValueError, match="class indices 0..1"):
        build_split_datalist(records, ["neg", "pos"], name="toy")
