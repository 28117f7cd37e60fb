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
"""Class-folder builders: real Kermany chest X-ray and COVID-CT; stand-ins of Kvasir, BreakHis and an ImageFolder."""

from __future__ import annotations

import numpy as np
import pytest

from monai_fusion.data.datalist import DATALIST_SECTIONS
from monai_fusion.data.folders import (
    KVASIR_CLASSES,
    build_breakhis_datalist,
    build_covid_ct_datalist,
    build_imagefolder_datalist,
    build_kermany_cxr_datalist,
    build_kvasir_datalist,
    covid_ct_source_id,
    kermany_patient_id,
    parse_breakhis_filename,
)
from monai_fusion.data.validate import DatalistValidationError, validate_datalist
from tests.data.standins import write_image
from tests.utils import require_data


def _assert_no_group_overlap(datalist):
    groups = {s: {r["group"] for r in datalist[s]} for s in DATALIST_SECTIONS}
    assert not groups["training"] & groups["validation"]
    assert not groups["training"] & groups["test"]
    assert not groups["validation"] & groups["test"]


def _assert_stratified(datalist, tolerance):
    totals = {c: sum(datalist["class_counts"][s][c] for s in DATALIST_SECTIONS) for c in datalist["class_names"]}
    overall = np.array(list(totals.values())) / sum(totals.values())
    for s in DATALIST_SECTIONS:
        counts = np.array([datalist["class_counts"][s][c] for c in datalist["class_names"]])
        assert np.abs(counts / counts.sum() - overall).max() < tolerance, (s, counts)


@pytest.mark.parametrize(
    "name, patient",
    [
        ("person1000_bacteria_2931.jpeg", "person1000"),
        ("person1_virus_6.jpeg", "person1"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("NORMAL2-IM-0115-0001.jpeg", "IM-0115"),
        ("/data/chest_xray/train/NORMAL/NORMAL2-IM-1427-0001.jpeg", "IM-1427"),
    ],
)
def test_kermany_patient_id(name, patient):
    assert kermany_patient_id(name) == patient


def test_kermany_patient_id_rejects_other_names():
    with pytest.raises(ValueError, match="personN"):
        kermany_patient_id("scan_0001.jpeg")


def test_kermany_real_patient_grouped_and_stratified():
    cxr = require_data("chest_xray_pneumonia")
    datalist = build_kermany_cxr_datalist(cxr)
    assert datalist["class_names"] == ["NORMAL", "PNEUMONIA"]
    assert datalist["numTraining"] + datalist["numValidation"] + datalist["numTest"] == 1341 + 3875
    _assert_no_group_overlap(datalist)
    # the group of every item is the patient in its file name
    for section in DATALIST_SECTIONS:
        assert all(r["group"] == kermany_patient_id(r["image"]) for r in datalist[section])
    n_patients = len({r["group"] for s in DATALIST_SECTIONS for r in datalist[s]})
    assert n_patients < 1341 + 3875  # several images per patient: grouping matters here
    _assert_stratified(datalist, tolerance=0.01)


def test_kermany_real_subtypes_kfold():
    cxr = require_data("chest_xray_pneumonia")
    datalist = build_kermany_cxr_datalist(cxr, pneumonia_subtypes=True, folds=3)
    assert datalist["class_names"] == ["NORMAL", "BACTERIA", "VIRUS"]
    counts = {c: sum(datalist["class_counts"][s][c] for s in DATALIST_SECTIONS) for c in datalist["class_names"]}
    assert counts == {"NORMAL": 1341, "BACTERIA": 2530, "VIRUS": 1345}
    by_fold = [{r["group"] for r in datalist["training"] if r["fold"] == k} for k in range(3)]
    assert not by_fold[0] & by_fold[1] and not by_fold[1] & by_fold[2] and not by_fold[0] & by_fold[2]


def test_kermany_official_tree_and_unparseable_names(tmp_path):
    for split in ("train", "test"):
        write_image(tmp_path / "chest_xray" / split / "NORMAL" / f"IM-00{int(split == 'test')}1-0001.jpeg", mode="L")
        write_image(tmp_path / "chest_xray" / split / "PNEUMONIA" / f"person{len(split)}_virus_1.jpeg", mode="L")
    write_image(tmp_path / "__MACOSX" / "chest_xray" / "NORMAL" / "._IM-0001-0001.jpeg", mode="L")
    datalist = build_kermany_cxr_datalist(tmp_path, fractions=(0.5, 0.25, 0.25))
    assert sum(datalist[f"num{s}"] for s in ("Training", "Validation", "Test")) == 4
    write_image(tmp_path / "chest_xray" / "val" / "NORMAL" / "scan.jpeg", mode="L")
    with pytest.raises(DatalistValidationError, match="scan.jpeg"):
        build_kermany_cxr_datalist(tmp_path)


def test_covid_ct_real_grouped_by_source():
    covid = require_data("covid_ct")
    datalist = build_covid_ct_datalist(covid)
    counts = {c: sum(datalist["class_counts"][s][c] for s in DATALIST_SECTIONS) for c in datalist["class_names"]}
    assert counts == {"NonCOVID": 397, "COVID": 349}
    _assert_no_group_overlap(datalist)
    _assert_stratified(datalist, tolerance=0.05)
    assert validate_datalist(datalist, decode=False, progress=False) == 746


@pytest.mark.parametrize(
    "name, covid, group",
    [
        ("2020.01.24.919183-p27-132.png", True, "COVID/2020.01.24.919183"),
        ("2020.01.24.919183-p27-133.png", True, "COVID/2020.01.24.919183"),
        ("PIIS0140673620301549_0%1.png", True, "COVID/PIIS0140673620301549"),
        ("PIIS0140673620303603%8.png", True, "COVID/PIIS0140673620303603"),
        ("1%2.png", False, "NonCOVID/1"),
        ("997.png", False, "NonCOVID/997"),
    ],
)
def test_covid_ct_source_id(name, covid, group):
    assert covid_ct_source_id(name, covid) == group


def test_parse_breakhis_filename():
    fields = parse_breakhis_filename("SOB_B_A-14-22549AB-40-001.png")
    assert fields["patient_id"] == "14-22549AB" and fields["tumor_type_name"] == "adenosis"
    assert (fields["tumor_class"], fields["magnification"], fields["sequence"]) == ("B", "40", "001")
    assert parse_breakhis_filename("SOB_M_DC-14-2523-400-010.png")["patient_id"] == "14-2523"
    with pytest.raises(ValueError, match="BreakHis"):
        parse_breakhis_filename("SOB_B_XX-14-22549AB-40-001.png")


def _breakhis(tmp_path):
    types = {"B": ["A", "F", "PT", "TA"], "M": ["DC", "LC", "MC", "PC"]}
    folders = {"A": "adenosis", "F": "fibroadenoma", "PT": "phyllodes_tumor", "TA": "tubular_adenoma"}
    folders |= {"DC": "ductal_carcinoma", "LC": "lobular_carcinoma", "MC": "mucinous_carcinoma"}
    folders |= {"PC": "papillary_carcinoma"}
    base = tmp_path / "BreaKHis_v1" / "histology_slides" / "breast"
    for cls, tumor_types in types.items():
        for t, tumor in enumerate(tumor_types):
            for patient in range(3):
                slide = f"{1000 * (t + 1) + patient}{'AB' if patient == 2 else ''}"
                for mag in ("40", "400"):
                    for seq in range(2):
                        name = f"SOB_{cls}_{tumor}-14-{slide}-{mag}-{seq + 1:03d}.png"
                        benign = "benign" if cls == "B" else "malignant"
                        folder = base / benign / "SOB" / folders[tumor] / f"SOB_{cls}_{tumor}_14-{slide}" / f"{mag}X"
                        write_image(folder / name, size=(4, 4))
    return tmp_path


def test_breakhis_standin_patient_grouped(tmp_path):
    root = _breakhis(tmp_path)
    datalist = build_breakhis_datalist(root, label_level="subtype", magnifications=["40X"])
    assert len(datalist["class_names"]) == 8 and datalist["class_names"][0] == "adenosis"
    items = [r for s in DATALIST_SECTIONS for r in datalist[s]]
    assert len(items) == 2 * 4 * 3 * 2 and all("-40-" in r["case_id"] for r in items)
    assert {r["group"] for r in items} >= {"14-1000", "14-1002AB"}
    _assert_no_group_overlap(datalist)
    binary = build_breakhis_datalist(root)
    assert (
        binary["class_names"] == ["benign", "malignant"]
        and binary["numTraining"] + binary["numValidation"] + (binary["numTest"]) == 2 * 4 * 3 * 4
    )
    _assert_no_group_overlap(binary)
    with pytest.raises(ValueError, match="magnifications"):
        build_breakhis_datalist(root, magnifications=["20X"])


def test_kvasir_v1_standin_nested_layout(tmp_path):
    for c, name in enumerate(KVASIR_CLASSES):
        for k in range(10):
            write_image(tmp_path / "kvasir-dataset" / name / f"{k:04d}.jpg", seed=c * 10 + k)
    datalist = build_kvasir_datalist(tmp_path, version=1)
    assert datalist["name"] == "Kvasir v1" and datalist["class_names"] == list(KVASIR_CLASSES)
    assert all(datalist["class_counts"]["training"][c] == 8 for c in KVASIR_CLASSES)
    assert all(datalist["class_counts"]["test"][c] == 1 for c in KVASIR_CLASSES)
    assert "Pogorelov" in datalist["reference"]
    with pytest.raises(ValueError, match="version"):
        build_kvasir_datalist(tmp_path, version=3)
    with pytest.raises(FileNotFoundError, match="8 Kvasir class folders"):
        build_kvasir_datalist(tmp_path / "kvasir-dataset" / "polyps")


def test_imagefolder_with_group_pattern(tmp_path):
    for cls in ("benign", "malignant"):
        for patient in range(10):
            for view in range(3):
                write_image(tmp_path / cls / f"patient{patient + (10 if cls == 'malignant' else 0)}_{view}.png")
    write_image(tmp_path / "malignant" / "patient3_9.png")  # patient 3 also has a malignant image
    datalist = build_imagefolder_datalist(tmp_path, group_pattern=r"^(patient\d+)_", fractions=(0.6, 0.2, 0.2))
    assert datalist["class_names"] == ["benign", "malignant"]
    _assert_no_group_overlap(datalist)
    sections = {s for s in DATALIST_SECTIONS for r in datalist[s] if r["group"] == "patient3"}
    assert len(sections) == 1
    with pytest.raises(ValueError, match="lacks the class folder"):
        build_imagefolder_datalist(tmp_path, class_names=["benign", "other"])
    with pytest.raises(DatalistValidationError, match="does not match"):
        build_imagefolder_datalist(tmp_path, group_pattern=r"^(case\d+)")
