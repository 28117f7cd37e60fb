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
"""Dermoscopy builders: the real HAM10000 (lesion-grouped, stratified); stand-ins of ISIC 2018, ISIC 2019, RCM pairs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from monai.data import load_decathlon_datalist

from monai_fusion.data.datalist import DATALIST_SECTIONS
from monai_fusion.data.dermoscopy import (
    HAM10000_CLASSES,
    build_dermoscopy_rcm_datalist,
    build_ham10000_datalist,
    build_isic2018_task3_datalist,
    build_isic2019_datalist,
)
from monai_fusion.data.validate import DatalistValidationError, validate_datalist
from tests.data.standins import write_csv, write_image
from tests.utils import require_data


def _groups(datalist, section):
    return {r["group"] for r in datalist[section]}


def _proportions(counts):
    total = sum(counts.values())
    return np.array([counts[c] / total for c in sorted(counts)])


def test_ham10000_real_lesion_grouped_and_stratified(tmp_path):
    ham = require_data("ham10000")
    datalist = build_ham10000_datalist(ham, with_masks=True, output=tmp_path / "ham.json")
    rows = list(csv.DictReader(open(ham / "HAM10000_metadata.csv")))
    assert datalist["numTraining"] + datalist["numValidation"] + datalist["numTest"] == len(rows) == 8544
    # no lesion crosses splits
    for a, b in [("training", "validation"), ("training", "test"), ("validation", "test")]:
        assert not _groups(datalist, a) & _groups(datalist, b)
    # the group is the CSV's lesion id, the label its dx
    truth = {r["image_id"]: (r["lesion_id"], r["dx"]) for r in rows}
    for item in datalist["training"][:200]:
        assert truth[item["case_id"]] == (item["group"], HAM10000_CLASSES[item["label"]])
    # 8:1:1 and class proportions within 1 percentage point of the whole set
    sizes = np.array([datalist[f"num{s}"] for s in ("Training", "Validation", "Test")]) / len(rows)
    np.testing.assert_allclose(sizes, [0.8, 0.1, 0.1], atol=0.005)
    overall = _proportions({c: sum(r["dx"] == c for r in rows) for c in HAM10000_CLASSES})
    for section in DATALIST_SECTIONS:
        assert np.abs(_proportions(datalist["class_counts"][section]) - overall).max() < 0.01
    loaded = load_decathlon_datalist(tmp_path / "ham.json", is_segmentation=False, data_list_key="test")
    assert len(loaded) == datalist["numTest"] and loaded[0]["mask"].endswith("_segmentation.png")


def test_ham10000_real_kfold():
    ham = require_data("ham10000")
    datalist = build_ham10000_datalist(ham, folds=5, seed=7)
    fold_groups = [{r["group"] for r in datalist["training"] if r["fold"] == k} for k in range(5)]
    for i in range(5):
        assert not fold_groups[i] & _groups(datalist, "test")
        for j in range(i + 1, 5):
            assert not fold_groups[i] & fold_groups[j]
    sizes = [sum(c.values()) for c in datalist["fold_class_counts"].values()]
    assert max(sizes) - min(sizes) <= 0.01 * datalist["numTraining"]


def test_ham10000_missing_images_are_listed(tmp_path):
    write_csv(tmp_path / "HAM10000_metadata.csv", ["lesion_id", "image_id", "dx"], [["L1", "ISIC_1", "nv"]] * 1)
    with open(tmp_path / "HAM10000_metadata.csv", "a") as f:
        f.write("L2,ISIC_2,melanoma\n")
    write_image(tmp_path / "images" / "ISIC_1.jpg")
    with pytest.raises(DatalistValidationError) as err:
        build_ham10000_datalist(tmp_path)
    reasons = [str(p) for p in err.value.problems]
    assert len(reasons) == 2 and "ISIC_2.jpg" in reasons[0] and "unknown dx 'melanoma'" in reasons[1]


def _isic2018(tmp_path, with_groupings=True):
    columns = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    rows, groups = [], []
    for k in range(40):
        hot = [0.0] * 7
        hot[k % 7] = 1.0
        rows.append([f"ISIC_{k:07d}", *hot])
        groups.append([f"ISIC_{k:07d}", f"IL_{k // 2:07d}", "histopathology"])
        write_image(tmp_path / "ISIC2018_Task3_Training_Input" / f"ISIC_{k:07d}.jpg", seed=k)
    gt = tmp_path / "ISIC2018_Task3_Training_GroundTruth" / "ISIC2018_Task3_Training_GroundTruth.csv"
    write_csv(gt, ["image", *columns], rows)
    if with_groupings:
        header = ["image", "lesion_id", "diagnosis_confirm_type"]
        write_csv(tmp_path / "ISIC2018_Task3_Training_LesionGroupings.csv", header, groups)
    return columns


def test_isic2018_task3_standin(tmp_path):
    columns = _isic2018(tmp_path)
    datalist = build_isic2018_task3_datalist(tmp_path)
    assert datalist["class_names"] == columns and datalist["split"]["group_key"] == "lesion_id"
    item = next(r for r in datalist["training"] if r["case_id"] == "ISIC_0000009")
    assert item["label"] == 9 % 7 and item["group"] == "IL_0000004"
    assert not _groups(datalist, "training") & (_groups(datalist, "validation") | _groups(datalist, "test"))
    assert validate_datalist(datalist, progress=False) == 40


def test_isic2018_task3_without_groupings_warns(tmp_path, caplog):
    _isic2018(tmp_path, with_groupings=False)
    datalist = build_isic2018_task3_datalist(tmp_path)
    assert datalist["split"]["group_key"] == "image" and "lesions may leak" in caplog.text


def test_isic2019_standin(tmp_path):
    columns = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
    gt_rows, meta_rows = [], []
    for k in range(32):
        name = f"ISIC_{k:07d}" + ("_downsampled" if k % 5 == 0 else "")
        hot = [0.0] * 9
        hot[k % 8] = 1.0
        gt_rows.append([name, *hot])
        meta_rows.append([name, 50, "torso", f"BCN_{k // 4:07d}" if k < 16 else "", "male"])
        write_image(tmp_path / "ISIC_2019_Training_Input" / f"{name}.jpg", seed=k)
    write_csv(tmp_path / "ISIC_2019_Training_GroundTruth.csv", ["image", *columns], gt_rows)
    header = ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"]
    write_csv(tmp_path / "ISIC_2019_Training_Metadata.csv", header, meta_rows)
    datalist = build_isic2019_datalist(tmp_path)
    assert datalist["class_names"] == columns[:-1]  # UNK has no image
    items = {r["case_id"]: r for s in DATALIST_SECTIONS for r in datalist[s]}
    assert items["ISIC_0000005_downsampled"]["image"].endswith("ISIC_0000005_downsampled.jpg")
    assert items["ISIC_0000006"]["group"] == "BCN_0000001" and items["ISIC_0000021"]["group"] == "ISIC_0000021"
    assert not _groups(datalist, "training") & (_groups(datalist, "validation") | _groups(datalist, "test"))


def _rcm_pairs(tmp_path, n_cases=30, n_rcm=4):
    rows = []
    for k in range(n_cases):
        derm = write_image(tmp_path / "derm" / f"C{k:03d}.jpg", seed=k)
        rcm = [write_image(tmp_path / "rcm" / f"C{k:03d}_{i}.png", mode="L", seed=k + i) for i in range(n_rcm)]
        rel = [p.relative_to(tmp_path).as_posix() for p in [derm, *rcm]]
        rows.append([f"C{k:03d}", f"P{k // 3:02d}", rel[0], *rel[1:], ["bcc", "mel", "nv"][k % 3]])
    header = ["case_id", "patient_id", "dermoscopy", *[f"rcm_{i + 1}" for i in range(n_rcm)], "label"]
    return write_csv(tmp_path / "pairs.csv", header, rows)


def test_dermoscopy_rcm_pairs_standin(tmp_path):
    csv_path = _rcm_pairs(tmp_path)
    datalist = build_dermoscopy_rcm_datalist(csv_path, num_rcm=4, output=tmp_path / "pairs.json")
    assert datalist["class_names"] == ["bcc", "mel", "nv"] and datalist["path_keys"] == ["image", "rcm"]
    item = datalist["training"][0]
    assert len(item["rcm"]) == 4 and item["rcm"][0].endswith(f"{item['case_id']}_0.png")
    assert datalist["split"]["group_key"] == "patient_id"
    assert not _groups(datalist, "training") & (_groups(datalist, "validation") | _groups(datalist, "test"))
    assert validate_datalist(datalist, progress=False) == 30
    loaded = load_decathlon_datalist(tmp_path / "pairs.json", is_segmentation=False)
    assert isinstance(loaded[0]["rcm"], list) and len(loaded[0]["rcm"]) == 4


def test_dermoscopy_rcm_pairs_problems(tmp_path):
    csv_path = _rcm_pairs(tmp_path, n_cases=6)
    text = csv_path.read_text().splitlines()
    text[2] = text[2].replace("rcm/C001_3.png", "")  # one slice short
    text[3] = text[3].replace("derm/C002.jpg", "derm/absent.jpg")
    csv_path.write_text("\n".join(text) + "\n")
    with pytest.raises(DatalistValidationError) as err:
        build_dermoscopy_rcm_datalist(csv_path, class_names=["bcc", "mel"])
    message = str(err.value)
    assert "3 RCM images, expected 4" in message and "absent.jpg" in message and "unknown label 'nv'" in message
