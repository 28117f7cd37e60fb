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
"""validate_datalist: each failure mode gives one clear error naming the file, proved on real files where possible."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from monai_fusion.data.datalist import build_split_datalist, save_datalist_json
from monai_fusion.data.validate import DatalistValidationError, inspect_image_file, validate_datalist
from tests.data.standins import write_image
from tests.utils import require_data


def _ham_datalist(ham_dir, n=20, with_masks=True):
    """A small datalist over the first ``n`` real HAM10000 images (label = index of its dx)."""
    images = sorted((ham_dir / "images").glob("ISIC_*.jpg"))[:n]
    records = []
    for k, image in enumerate(images):
        record = {"image": str(image), "label": k % 7, "case_id": image.stem, "group": f"lesion{k}"}
        if with_masks:
            record["mask"] = str(ham_dir / "masks" / f"{image.stem}_segmentation.png")
        records.append(record)
    keys = ("image", "mask") if with_masks else ("image",)
    return build_split_datalist(
        records,
        ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"],
        name="HAM subset",
        path_keys=keys,
        channels={"image": [3], "mask": [1]},
    )


def _only_problem(err: pytest.ExceptionInfo) -> str:
    assert len(err.value.problems) == 1, err.value.problems
    return str(err.value)


def test_real_files_pass():
    ham = require_data("ham10000")
    assert validate_datalist(_ham_datalist(ham), progress=False) == 20


def test_truncated_copy_of_a_real_jpeg(tmp_path):
    ham = require_data("ham10000")
    datalist = _ham_datalist(ham)
    source = datalist["training"][0]["image"]
    broken = tmp_path / "ISIC_truncated.jpg"
    data = open(source, "rb").read()
    broken.write_bytes(data[: len(data) // 2])
    datalist["training"][0]["image"] = str(broken)
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, progress=False)
    message = _only_problem(err)
    assert str(broken) in message and "cannot be decoded" in message and "truncated" in message
    assert err.value.problems[0].section == "training" and err.value.problems[0].key == "image"


def test_missing_file(tmp_path):
    ham = require_data("ham10000")
    datalist = _ham_datalist(ham)
    missing = tmp_path / "gone" / "ISIC_0000000.jpg"
    datalist["validation"][0]["image"] = str(missing)
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, progress=False)
    message = _only_problem(err)
    assert str(missing) in message and "file not found" in message and "Fix:" in message


def test_unknown_label():
    ham = require_data("ham10000")
    datalist = _ham_datalist(ham)
    datalist["test"][0]["label"] = 7
    case = datalist["test"][0]["case_id"]
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, decode=False, progress=False)
    message = _only_problem(err)
    assert case in message and "unknown label 7" in message and "0..6" in message


def test_mask_of_the_wrong_size(tmp_path):
    kvasir = require_data("kvasir_seg")
    image = sorted((kvasir / "images").glob("*.jpg"))[0]
    mask = kvasir / "masks" / image.name
    small = tmp_path / image.name
    with Image.open(mask) as m:
        m.resize((m.width // 2, m.height // 2), Image.NEAREST).save(small)
    records = [{"image": str(image), "label": str(small), "case_id": "a", "group": "a"}]
    records += [
        {"image": str(p), "label": str(kvasir / "masks" / p.name), "case_id": p.stem, "group": p.stem}
        for p in sorted((kvasir / "images").glob("*.jpg"))[1:10]
    ]
    datalist = build_split_datalist(
        records, ["background", "polyp"], name="seg", task="segmentation", channels={"label": [1, 3]}
    )
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, progress=False)
    message = _only_problem(err)
    assert str(small) in message and "(128, 128) does not match image size (256, 256)" in message


def test_duplicates_across_splits():
    ham = require_data("ham10000")
    datalist = _ham_datalist(ham, with_masks=False)
    leaked = dict(datalist["training"][0])
    datalist["test"].append(leaked)
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, decode=False, progress=False)
    reasons = [p.reason for p in err.value.problems]
    assert len(reasons) == 3  # the case id, its lesion group and its image file
    assert all("in both 'training' and 'test'" in r for r in reasons)
    assert leaked["case_id"] in str(err.value)


def test_every_problem_is_reported_together(tmp_path):
    ham = require_data("ham10000")
    datalist = _ham_datalist(ham)
    datalist["training"][0]["image"] = str(tmp_path / "missing.jpg")
    datalist["training"][1]["label"] = "melanoma"
    datalist["training"][2]["image"] = str(write_image(tmp_path / "rgba.png", mode="RGBA"))
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, progress=False)
    reasons = sorted(p.reason for p in err.value.problems)
    assert len(reasons) == 4, reasons  # the RGBA stand-in also differs in size from its real mask
    assert any("file not found" in r for r in reasons) and any("unknown label 'melanoma'" in r for r in reasons)
    assert any("4 channel(s), expected 3" in r for r in reasons) and any("does not match" in r for r in reasons)


def test_json_file_with_relative_paths(tmp_path):
    ham = require_data("ham10000")
    shutil.copytree(ham / "images", tmp_path / "data" / "images", ignore=lambda d, names: sorted(names)[5:])
    images = sorted((tmp_path / "data" / "images").glob("*.jpg"))
    records = [{"image": str(p), "label": 0, "case_id": p.stem, "group": p.stem} for p in images]
    datalist = build_split_datalist(records, ["x"], name="rel", fractions=(0.6, 0.2, 0.2))
    path = save_datalist_json(datalist, tmp_path / "data" / "datalist.json", relative_to=tmp_path / "data")
    assert validate_datalist(path, progress=False) == 5
    (tmp_path / "data" / "images" / images[0].name).unlink()
    with pytest.raises(DatalistValidationError, match=images[0].name):
        validate_datalist(path, progress=False)


def test_inspect_nifti_and_compressed_dicom(monkeypatch):
    ct = require_data("ct_volumes")
    assert inspect_image_file(ct / "example_ct_sm.nii.gz") == ((122, 101, 30), 1)
    pytest.importorskip("pylibjpeg")
    assert inspect_image_file(ct / "example_ct_dicom") == ((512, 512, 20), 1)

    import pydicom

    def no_plugin(self):
        raise RuntimeError("Unable to decode the pixel data: no plugins available")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_plugin))
    with pytest.raises(RuntimeError, match="pylibjpeg-openjpeg"):
        inspect_image_file(ct / "example_ct_dicom")


def test_group_across_folds(tmp_path):
    records = []
    for k in range(40):
        (tmp_path / f"{k}.png").touch()
        records.append({"image": str(tmp_path / f"{k}.png"), "label": 0, "case_id": str(k), "group": f"g{k // 2}"})
    datalist = build_split_datalist(records, ["x"], name="folds", folds=4)
    assert validate_datalist(datalist, decode=False, progress=False) == 40
    item = next(r for r in datalist["training"] if r["fold"] == 0)
    twin = next(r for r in datalist["training"] if r["group"] == item["group"] and r is not item)
    twin["fold"] = 1
    with pytest.raises(DatalistValidationError) as err:
        validate_datalist(datalist, decode=False, progress=False)
    assert "leak between folds" in _only_problem(err) and item["group"] in str(err.value)
