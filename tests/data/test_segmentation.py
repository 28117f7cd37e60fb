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
"""Segmentation builders: the real Kvasir-SEG and a CVC-ClinicDB stand-in (TIFF pairs)."""

from __future__ import annotations

import pytest
from monai.data import load_decathlon_datalist
from monai.transforms import LoadImaged

from monai_fusion.data.datalist import DATALIST_SECTIONS
from monai_fusion.data.segmentation import build_cvc_clinicdb_datalist, build_kvasir_seg_datalist
from monai_fusion.data.validate import DatalistValidationError, validate_datalist
from tests.data.standins import write_csv, write_image
from tests.utils import require_data


@pytest.mark.filterwarnings("ignore:NvImgCodecPydicomReader")  # MONAI builds all its readers, nvImageCodec absent
def test_kvasir_seg_real(tmp_path):
    kvasir = require_data("kvasir_seg")
    datalist = build_kvasir_seg_datalist(kvasir, output=tmp_path / "kvasir_seg.json")
    assert datalist["task"] == "segmentation" and datalist["class_names"] == ["background", "polyp"]
    assert (datalist["numTraining"], datalist["numValidation"], datalist["numTest"]) == (798, 100, 100)
    for item in datalist["test"]:
        assert item["label"].replace("/masks/", "/images/") == item["image"]
    # decode a sample of pairs (all 998 pairs are covered by the slow CLI test)
    sample = {**datalist, "training": datalist["training"][:30]}
    assert validate_datalist(sample, sections=("training", "test"), progress=False) == 130
    loaded = load_decathlon_datalist(tmp_path / "kvasir_seg.json", data_list_key="validation")
    data = LoadImaged(keys=["image", "label"], reader="PILReader", image_only=True)(loaded[0])
    assert tuple(data["image"].shape) == (256, 256, 3) and tuple(data["label"].shape) == (256, 256, 3)


def _cvc(tmp_path, n=24, png=False):
    suffix = "png" if png else "tif"
    for k in range(1, n + 1):
        write_image(tmp_path / "CVC-ClinicDB" / "Original" / f"{k}.{suffix}", size=(12, 9), seed=k)
        write_image(tmp_path / "CVC-ClinicDB" / "Ground Truth" / f"{k}.{suffix}", size=(12, 9), mode="L", seed=k)
    return tmp_path


def test_cvc_clinicdb_standin_with_sequences(tmp_path):
    root = _cvc(tmp_path)
    sequences = write_csv(tmp_path / "sequences.csv", ["frame", "sequence"], [[k, (k - 1) // 4] for k in range(1, 25)])
    datalist = build_cvc_clinicdb_datalist(root, sequence_csv=sequences)
    assert datalist["split"]["group_key"] == "video sequence"
    groups = {s: {r["group"] for r in datalist[s]} for s in DATALIST_SECTIONS}
    assert all(len(g) >= 1 for g in groups.values())
    assert not groups["training"] & groups["validation"] and not groups["training"] & groups["test"]
    assert all(r["label"].endswith(f"Ground Truth/{r['case_id']}.tif") for r in datalist["training"])
    assert validate_datalist(datalist, progress=False) == 24


def test_cvc_clinicdb_standin_frames_warn_and_missing_mask(tmp_path, caplog):
    root = _cvc(tmp_path, n=10, png=True)
    datalist = build_cvc_clinicdb_datalist(root)
    assert datalist["split"]["group_key"] == "frame" and "one polyp can cross splits" in caplog.text
    (root / "CVC-ClinicDB" / "Ground Truth" / "3.png").unlink()
    with pytest.raises(DatalistValidationError, match="no mask named 3"):
        build_cvc_clinicdb_datalist(root)
    with pytest.raises(FileNotFoundError, match="Ground Truth"):
        build_cvc_clinicdb_datalist(root / "CVC-ClinicDB" / "Original")
