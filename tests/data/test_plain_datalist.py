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
"""Hand-written datalists: a plain ``{image, label}`` segmentation datalist is accepted (mask files checked, no class
names needed); the task is read or inferred; relative paths, masks included, resolve against the JSON's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monai_fusion.data import (
    DatalistValidationError,
    DatasetNotFoundError,
    InvalidDatasetError,
    infer_datalist_task,
    load_datalist_json,
    validate_datalist,
)
from tests.data.standins import write_image


def _plain_segmentation(tmp_path: Path, mask_size: tuple[int, int] = (8, 6)) -> Path:
    """``{"training": [...], "validation": [...]}`` with only image and mask paths, relative to the JSON file."""
    items = []
    for k in range(3):
        write_image(tmp_path / "images" / f"case{k}.png", size=(8, 6), seed=k)
        write_image(tmp_path / "masks" / f"case{k}_mask.png", size=mask_size if k == 0 else (8, 6), mode="L", seed=k)
        items.append({"image": f"images/case{k}.png", "label": f"masks/case{k}_mask.png"})
    path = tmp_path / "datalist.json"
    path.write_text(json.dumps({"training": items[:2], "validation": items[2:]}))
    return path


def test_plain_segmentation_datalist_validates(tmp_path: Path) -> None:
    path = _plain_segmentation(tmp_path)
    assert validate_datalist(path, progress=False) == 3  # the JSON file, relative paths
    datalist = load_datalist_json(path)
    assert datalist["task"] == "segmentation"
    assert datalist["training"][0]["label"] == str(tmp_path / "masks" / "case0_mask.png")  # the mask is a path too
    assert datalist["validation"][0]["image"] == str(tmp_path / "images" / "case2.png")
    assert validate_datalist(datalist, progress=False) == 3  # the dict, absolute paths, from another folder


def test_plain_segmentation_masks_are_still_checked(tmp_path: Path) -> None:
    path = _plain_segmentation(tmp_path, mask_size=(5, 6))
    (tmp_path / "masks" / "case1_mask.png").unlink()
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(load_datalist_json(path), progress=False)
    problems = {p.path: p.reason for p in err.value.problems}
    assert problems == {
        str(tmp_path / "masks" / "case0_mask.png"): "mask size (5, 6) does not match image size (8, 6)",
        str(tmp_path / "masks" / "case1_mask.png"): "file not found",
    }
    assert "class name" not in str(err.value)  # the misleading classification hint is gone


@pytest.mark.parametrize(
    "datalist, task",
    [
        ({"training": [{"image": "a.png", "label": "a_mask.png"}]}, "segmentation"),
        ({"training": [{"image": "a.png", "label": "masks/a"}]}, "segmentation"),
        ({"training": [{"image": "a.nii.gz", "label": ["l1.nii.gz", "l2.nii.gz"]}]}, "segmentation"),
        ({"training": [{"image": "a.png", "label": 1}]}, "classification"),
        ({"training": [{"image": "a.png", "label": "nv"}]}, "classification"),
        ({"task": "segmentation", "training": [{"image": "a.png", "label": "nv"}]}, "segmentation"),
        ({"task": "classification", "training": [{"image": "a.png", "label": "x.png"}]}, "classification"),
        ({"validation": []}, "classification"),
    ],
)
def test_task_is_read_or_inferred_from_the_labels(datalist: dict, task: str) -> None:
    assert infer_datalist_task(datalist) == task


def test_unknown_task_bad_files_and_missing_class_names_are_explained(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatasetError, match="task must be one of"):
        infer_datalist_task({"task": "detection"})
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "none.json")):
        load_datalist_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidDatasetError, match="not valid JSON"):
        load_datalist_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InvalidDatasetError, match="not an object"):
        load_datalist_json(tmp_path / "list.json")

    image = write_image(tmp_path / "a.png")
    plain = {"training": [{"image": str(image), "label": 1}]}
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(plain, progress=False)
    assert len(err.value.problems) == 1 and "without 'class_names'" in str(err.value)
    assert "--class_names" in err.value.problems[0].fix
    assert validate_datalist(plain, class_names=["benign", "malignant"], progress=False) == 1
    with pytest.raises(DatalistValidationError, match="unknown label 1"):
        validate_datalist(plain, class_names=["benign"], progress=False)


def test_bundle_datalists_accept_plain_files(tmp_path: Path) -> None:
    """What the bundles call (``bundle_utils.prepare_datalist``): a plain segmentation datalist, from another working
    folder, comes back with absolute image and mask paths; a plain classification datalist takes the bundle's
    class_names."""
    from monai_fusion import bundle_utils

    path = _plain_segmentation(tmp_path / "seg")
    datalist = bundle_utils.prepare_datalist("kvasir_seg", datalist=str(path), sections=("training", "validation"))
    assert datalist["training"][1]["label"] == str(tmp_path / "seg" / "masks" / "case1_mask.png")
    image = write_image(tmp_path / "cls" / "a.png")
    write_image(tmp_path / "cls" / "b.png", seed=1)
    plain = {"training": [{"image": "a.png", "label": 1}], "validation": [{"image": "b.png", "label": 0}]}
    (tmp_path / "cls" / "datalist.json").write_text(json.dumps(plain))
    json_file, classes = str(tmp_path / "cls" / "datalist.json"), ["benign", "malignant"]
    datalist = bundle_utils.prepare_datalist("kvasir_v1", datalist=json_file, class_names=classes)
    assert datalist["training"][0]["image"] == str(image)


def test_command_line_validates_and_tabulates_a_plain_datalist(tmp_path: Path, capsys) -> None:
    import io

    from monai_fusion.data.cli import prepare_data_main

    path = _plain_segmentation(tmp_path)
    out = io.StringIO()
    assert prepare_data_main(["validate", str(path), "--no-progress"], out=out) == 0
    assert out.getvalue() == f"{path}: 3 items, no problems\n"
    out = io.StringIO()
    assert prepare_data_main(["table", str(path)], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "datalist: segmentation datalist, no recorded split"
    assert lines[3].split() == ["items", "2", "1", "0", "3"]
    (tmp_path / "masks" / "case2_mask.png").unlink()
    assert prepare_data_main(["validate", str(path), "--no-progress"], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "case2_mask.png: file not found" in err and "class name" not in err
