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
"""Datalist builders for dermoscopy: HAM10000, ISIC 2018 Task 3, ISIC 2019, and paired dermoscopy + RCM cases.

- HAM10000 (Tschandl et al., Sci Data 2018): ``HAM10000_metadata.csv`` (lesion_id, image_id, dx, ...) and
  ``ISIC_*.jpg``; optional lesion masks ``ISIC_*_segmentation.png`` (Tschandl et al., Nat Med 2020). Several images
  show one lesion, so the split groups by ``lesion_id``.
- ISIC 2018 Task 3 (Codella et al., arXiv:1902.03368): one-hot ``ISIC2018_Task3_Training_GroundTruth.csv``
  (image, MEL, NV, BCC, AKIEC, BKL, DF, VASC); ``ISIC2018_Task3_Training_LesionGroupings.csv`` gives ``lesion_id``.
- ISIC 2019: one-hot ``ISIC_2019_Training_GroundTruth.csv`` (image, MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK) and
  ``ISIC_2019_Training_Metadata.csv`` whose ``lesion_id`` is empty for some images (those become their own group).
- Paired multimodal cases (MFSF²-Net's multimodal input: one dermoscopy image + N reflectance confocal
  microscopy slices per case) from a CSV.

Written for this project from the public file layouts; no code copied.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_fusion.data._scan import (
    dataset_metadata,
    existing_dataset_dir,
    find_named_file,
    finish_datalist,
    index_by_stem,
    read_csv_rows,
    walk_files,
)
from monai_fusion.data.errors import DatasetNotFoundError, InvalidDatasetError
from monai_fusion.data.validate import DatalistProblem, DatalistValidationError

__all__ = [
    "HAM10000_CLASSES",
    "build_dermoscopy_rcm_datalist",
    "build_ham10000_datalist",
    "build_isic2018_task3_datalist",
    "build_isic2019_datalist",
]

logger = logging.getLogger(__name__)

HAM10000_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")


def _locate_csv(root: Path, given: str | os.PathLike | None, name: str, required: bool = True) -> Path | None:
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise DatasetNotFoundError(f"{path} does not exist.")
        return path
    found = find_named_file(root, name)
    if found is None and required:
        raise DatasetNotFoundError(f"{name} not found under {root}; pass its path explicitly or fix the folder layout.")
    return found


def build_ham10000_datalist(
    dataset_dir: str | os.PathLike,
    *,
    metadata_csv: str | os.PathLike | None = None,
    with_masks: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """HAM10000: 7 classes (``HAM10000_CLASSES``, label = index), grouped by ``lesion_id``.

    Args:
        dataset_dir: folder holding ``HAM10000_metadata.csv`` and the ``ISIC_*.jpg`` images (any sub-folders).
        metadata_csv: explicit path of the metadata CSV (default: searched under ``dataset_dir``).
        with_masks: add ``mask`` (``ISIC_*_segmentation.png``) to every item; a missing mask is an error.
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).

    Raises:
        DatalistValidationError: listing every image (or mask) named in the CSV but absent, and unknown ``dx``.
    """
    root = existing_dataset_dir(dataset_dir, "HAM10000")
    rows = read_csv_rows(_locate_csv(root, metadata_csv, "HAM10000_metadata.csv"), ("lesion_id", "image_id", "dx"))
    images = index_by_stem(p for p in walk_files(root, (".jpg", ".jpeg")))
    masks = index_by_stem(walk_files(root, (".png",)), strip_suffix="_segmentation") if with_masks else {}
    problems, records = [], []
    for row in rows:
        image_id, dx = row["image_id"], row["dx"]
        image = images.get(image_id)
        if image is None:
            problems.append(DatalistProblem(f"{image_id}.jpg", "image listed in the CSV not found", "add the file"))
        if dx not in HAM10000_CLASSES:
            fix = f"use one of {HAM10000_CLASSES}"
            problems.append(DatalistProblem(image_id, f"unknown dx {dx!r}", fix, key="label"))
        record = {"image": str(image), "label": HAM10000_CLASSES.index(dx) if dx in HAM10000_CLASSES else -1}
        if with_masks:
            mask = masks.get(image_id)
            if mask is None:
                fix = "add the mask, or build without masks"
                problems.append(DatalistProblem(f"{image_id}_segmentation.png", "mask not found", fix, key="mask"))
            record["mask"] = str(mask)
        records.append({**record, "case_id": image_id, "group": row["lesion_id"]})
    if problems:
        raise DatalistValidationError(problems, f"HAM10000 at {root}")
    return finish_datalist(
        records,
        HAM10000_CLASSES,
        output,
        name="HAM10000",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="lesion_id",
        path_keys=("image", "mask") if with_masks else ("image",),
        channels={"image": [3], "mask": [1]} if with_masks else {"image": [3]},
        metadata=dataset_metadata("ham10000", root),
    )


def _onehot_records(
    root: Path, rows: list[dict[str, str]], class_names: list[str], lesions: dict[str, str], what: str
) -> list[dict[str, Any]]:
    images = index_by_stem(walk_files(root, (".jpg", ".jpeg", ".png")))
    problems, records = [], []
    for row in rows:
        name = row["image"]
        image = images.get(name) or images.get(f"{name}_downsampled")
        if image is None:
            problems.append(DatalistProblem(name, "image listed in the ground-truth CSV not found", "add the file"))
        hot = [c for c in class_names if float(row.get(c) or 0) >= 0.5]
        if len(hot) != 1:
            reason = f"one-hot row has {len(hot)} positive classes ({hot})"
            problems.append(DatalistProblem(name, reason, "fix the ground-truth CSV row", key="label"))
        label = class_names.index(hot[0]) if len(hot) == 1 else -1
        records.append({"image": str(image), "label": label, "case_id": name, "group": lesions.get(name) or name})
    if problems:
        raise DatalistValidationError(problems, f"{what} at {root}")
    return records


def build_isic2018_task3_datalist(
    dataset_dir: str | os.PathLike,
    *,
    ground_truth_csv: str | os.PathLike | None = None,
    lesion_groupings_csv: str | os.PathLike | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """ISIC 2018 Task 3: classes in the ground-truth column order (MEL, NV, BCC, AKIEC, BKL, DF, VASC).

    Grouped by ``lesion_id`` from ``ISIC2018_Task3_Training_LesionGroupings.csv`` when it is present; without it
    every image is its own group, a warning is logged, and images of one lesion may cross splits.

    Args:
        dataset_dir: folder with the ground-truth CSV and the ``ISIC_*.jpg`` images (any sub-folders).
        ground_truth_csv: explicit ground-truth CSV (default ``ISIC2018_Task3_Training_GroundTruth.csv``).
        lesion_groupings_csv: explicit lesion-groupings CSV (default: searched, optional).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).
    """
    root = existing_dataset_dir(dataset_dir, "ISIC 2018 Task 3")
    rows = read_csv_rows(_locate_csv(root, ground_truth_csv, "ISIC2018_Task3_Training_GroundTruth.csv"), ("image",))
    class_names = [c for c in rows[0] if c != "image"] if rows else []
    groupings = _locate_csv(root, lesion_groupings_csv, "ISIC2018_Task3_Training_LesionGroupings.csv", False)
    lesions = {}
    if groupings is not None:
        lesions = {r["image"]: r["lesion_id"] for r in read_csv_rows(groupings, ("image", "lesion_id"))}
    else:
        logger.warning("ISIC2018_Task3_Training_LesionGroupings.csv not found: splitting by image, lesions may leak.")
    records = _onehot_records(root, rows, class_names, lesions, "ISIC 2018 Task 3")
    return finish_datalist(
        records,
        class_names,
        output,
        name="ISIC 2018 Task 3",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="lesion_id" if lesions else "image",
        channels={"image": [3]},
        metadata=dataset_metadata("isic2018_task3", root),
    )


def build_isic2019_datalist(
    dataset_dir: str | os.PathLike,
    *,
    ground_truth_csv: str | os.PathLike | None = None,
    metadata_csv: str | os.PathLike | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """ISIC 2019: classes in the ground-truth column order; ``UNK`` is dropped when no image uses it.

    Grouped by the metadata ``lesion_id``; images without one (and all images when the metadata CSV is absent) are
    their own group. Image names ending in ``_downsampled`` are matched too.

    Args:
        dataset_dir: folder with ``ISIC_2019_Training_GroundTruth.csv`` and the images (any sub-folders).
        ground_truth_csv: explicit ground-truth CSV.
        metadata_csv: explicit metadata CSV (default ``ISIC_2019_Training_Metadata.csv``, searched, optional).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).
    """
    root = existing_dataset_dir(dataset_dir, "ISIC 2019")
    rows = read_csv_rows(_locate_csv(root, ground_truth_csv, "ISIC_2019_Training_GroundTruth.csv"), ("image",))
    class_names = [c for c in rows[0] if c != "image"] if rows else []
    if "UNK" in class_names and not any(float(r.get("UNK") or 0) >= 0.5 for r in rows):
        class_names.remove("UNK")
    meta = _locate_csv(root, metadata_csv, "ISIC_2019_Training_Metadata.csv", False)
    lesions = {r["image"]: r["lesion_id"] for r in read_csv_rows(meta, ("image", "lesion_id"))} if meta else {}
    if meta is None:
        logger.warning("ISIC_2019_Training_Metadata.csv not found: splitting by image, lesions may leak.")
    records = _onehot_records(root, rows, class_names, lesions, "ISIC 2019")
    return finish_datalist(
        records,
        class_names,
        output,
        name="ISIC 2019",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="lesion_id" if lesions else "image",
        channels={"image": [3]},
        metadata=dataset_metadata("isic2019", root),
    )


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def build_dermoscopy_rcm_datalist(
    csv_path: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    num_rcm: int | None = None,
    image_column: str = "dermoscopy",
    rcm_prefix: str = "rcm",
    label_column: str = "label",
    case_column: str = "case_id",
    group_column: str = "patient_id",
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Paired multimodal cases: one dermoscopy image and N RCM slices per row of a CSV.

    CSV layout (paths relative to the CSV's folder, or absolute)::

        case_id,patient_id,dermoscopy,rcm_1,rcm_2,rcm_3,rcm_4,label
        C001,P01,derm/C001.jpg,rcm/C001_1.png,rcm/C001_2.png,rcm/C001_3.png,rcm/C001_4.png,mel

    The RCM columns are those starting with ``rcm_prefix`` (natural order); a single ``rcm`` column may instead hold
    ``;``-separated paths. Items: ``{"image": dermoscopy, "rcm": [N paths], "label": index, "case_id", "group"}``,
    grouped by ``patient_id`` when that column exists and is filled, else by case.

    Args:
        csv_path: the CSV file.
        class_names: the classes in label-index order (default: sorted distinct labels of the CSV).
        num_rcm: required number of RCM slices per case (default: that of the first row; all rows must agree).
        image_column: column of the dermoscopy image.
        rcm_prefix: prefix of the RCM columns.
        label_column: column of the class name.
        case_column: column of the unique case id.
        group_column: column of the patient id (optional in the CSV).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).

    Raises:
        DatalistValidationError: listing every missing file, unknown label and wrong RCM count.
    """
    csv_file = Path(csv_path).expanduser().resolve()
    if not csv_file.is_file():
        raise DatasetNotFoundError(f"paired dermoscopy + RCM CSV not found: {csv_file}")
    rows = read_csv_rows(csv_file, (case_column, image_column, label_column))
    rcm_columns = sorted((c for c in (rows[0] if rows else {}) if c.startswith(rcm_prefix)), key=_natural_key)
    if not rcm_columns:
        raise InvalidDatasetError(f"{csv_file} has no RCM column (names starting with {rcm_prefix!r}).")
    names = list(class_names) if class_names is not None else sorted({r[label_column] for r in rows})
    problems, records = [], []
    for row in rows:
        case = row[case_column]
        rcm = [p for c in rcm_columns for p in row[c].split(";") if p.strip()]
        expected = num_rcm if num_rcm is not None else len(records[0]["rcm"]) if records else len(rcm)
        if len(rcm) != expected:
            fix = "give every case the same number of RCM slices"
            problems.append(DatalistProblem(case, f"{len(rcm)} RCM images, expected {expected}", fix, key="rcm"))
        paths = [str((csv_file.parent / p.strip()).resolve()) for p in [row[image_column], *rcm]]
        for key, path in zip(["image"] + ["rcm"] * len(rcm), paths):
            if not os.path.exists(path):
                problems.append(DatalistProblem(path, "file not found", "fix the path in the CSV", key=key))
        if row[label_column] not in names:
            fix = f"use one of {names}"
            problems.append(DatalistProblem(case, f"unknown label {row[label_column]!r}", fix, key="label"))
        label = names.index(row[label_column]) if row[label_column] in names else -1
        group = row.get(group_column) or case
        records.append({"image": paths[0], "rcm": paths[1:], "label": label, "case_id": case, "group": group})
    if problems:
        raise DatalistValidationError(problems, f"paired CSV {csv_file}")
    return finish_datalist(
        records,
        names,
        output,
        name="dermoscopy + RCM",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key=group_column if any(r.get(group_column) for r in rows) else case_column,
        path_keys=("image", "rcm"),
        channels={"image": [3], "rcm": [1, 3]},
        metadata={"description": "paired dermoscopy + reflectance confocal microscopy cases", "csv": str(csv_file)},
    )
