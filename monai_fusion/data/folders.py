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
"""Datalist builders for class-per-folder datasets, with the group key each one's file names encode.

- ImageFolder: ``<root>/<class>/**/<image>``; groups from an optional regular expression on the file name.
- Kvasir v1 / v2 (Pogorelov et al., MMSys 2017): 8 class folders (500 / 1,000 JPEGs each). The public release has no
  patient ids, so every image is its own group (state this when reporting Kvasir results).
- Kermany chest X-ray (Kermany et al., Cell 2018): ``NORMAL/`` and ``PNEUMONIA/`` at any depth (the official
  ``chest_xray/{train,test,val}/`` tree is pooled and re-split by patient). Patient ids: ``personN_*`` (pneumonia,
  ``bacteria`` / ``virus`` in the name) and ``IM-xxxx-*`` / ``NORMAL2-IM-xxxx-*`` (normal). The ``NORMAL2-`` batch
  re-uses IM numbers (211 of them in the 1,341-image training subset); the release does not say whether equal numbers
  mean one person, so both map to ``IM-xxxx``: this can only over-group, never leak.
- COVID-CT (Yang et al., arXiv:2003.13865): ``CT_COVID/`` and ``CT_NonCOVID/``. The images are figures cut from
  papers; patient ids exist only in the repository's spreadsheet, so COVID images are grouped by source paper (the
  name minus ``%k`` sub-figure, ``-pPAGE-FIG`` and ``_k`` suffixes) and non-COVID ones by source figure (minus ``%k``).
- BreakHis (Spanhol et al., IEEE TBME 2016): ``SOB_<B|M>_<type>-<year>-<slide>-<magnification>-<seq>.png``, e.g.
  ``SOB_B_A-14-22549AB-40-001.png``: surgical open biopsy, benign, adenosis, patient (slide) ``14-22549AB``, 40X,
  image 1. Tumour types: A adenosis, F fibroadenoma, PT phyllodes tumour, TA tubular adenoma (benign); DC ductal,
  LC lobular, MC mucinous, PC papillary carcinoma (malignant). Grouped by patient ``<year>-<slide>``; one patient may
  carry two tumour types, and the splitter counts such a group toward both classes.

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
    finish_datalist,
    walk_files,
)
from monai_fusion.data.errors import DatasetNotFoundError, InvalidDatasetError
from monai_fusion.data.validate import DatalistProblem, DatalistValidationError

__all__ = [
    "BREAKHIS_TUMOR_TYPES",
    "KVASIR_CLASSES",
    "build_breakhis_datalist",
    "build_covid_ct_datalist",
    "build_imagefolder_datalist",
    "build_kermany_cxr_datalist",
    "build_kvasir_datalist",
    "covid_ct_source_id",
    "kermany_patient_id",
    "parse_breakhis_filename",
]

logger = logging.getLogger(__name__)

KVASIR_CLASSES = (
    "dyed-lifted-polyps",
    "dyed-resection-margins",
    "esophagitis",
    "normal-cecum",
    "normal-pylorus",
    "normal-z-line",
    "polyps",
    "ulcerative-colitis",
)
BREAKHIS_TUMOR_TYPES = {
    "A": "adenosis",
    "F": "fibroadenoma",
    "PT": "phyllodes_tumor",
    "TA": "tubular_adenoma",
    "DC": "ductal_carcinoma",
    "LC": "lobular_carcinoma",
    "MC": "mucinous_carcinoma",
    "PC": "papillary_carcinoma",
}
_BREAKHIS_NAME = re.compile(
    r"^(?P<procedure>[A-Z]+)_(?P<tumor_class>[BM])_(?P<tumor_type>[A-Z]+)-(?P<year>\d+)-(?P<slide>[0-9A-Za-z]+)"
    r"-(?P<magnification>\d+)-(?P<sequence>\d+)\.png$",
    re.IGNORECASE,
)
_KERMANY_PERSON = re.compile(r"^person(\d+)_", re.IGNORECASE)
_KERMANY_IM = re.compile(r"^(?:NORMAL2-)?IM-(\d+)-", re.IGNORECASE)


def kermany_patient_id(filename: str) -> str:
    """Patient id encoded in a Kermany chest X-ray file name.

    ``person1000_bacteria_2931.jpeg`` -> ``person1000``; ``IM-0115-0001.jpeg`` and ``NORMAL2-IM-0115-0001.jpeg``
    -> ``IM-0115`` (see the module docstring for why the two normal batches share ids).

    Args:
        filename: file name (a path is reduced to its name).

    Raises:
        ValueError: the name follows neither pattern.
    """
    name = os.path.basename(filename)
    match = _KERMANY_PERSON.match(name)
    if match:
        return f"person{int(match.group(1))}"
    match = _KERMANY_IM.match(name)
    if match:
        return f"IM-{match.group(1)}"
    raise ValueError(f"{name!r} is not a Kermany file name (personN_* or [NORMAL2-]IM-xxxx-*).")


def covid_ct_source_id(filename: str, covid: bool) -> str:
    """Group of a COVID-CT image: its source paper (COVID) or source figure (non-COVID).

    Args:
        filename: file name, e.g. ``2020.01.24.919183-p27-132.png`` or ``1%0.png``.
        covid: whether the image is from ``CT_COVID`` (paper-level grouping) or ``CT_NonCOVID``.
    """
    stem = re.sub(r"%\d+$", "", os.path.basename(filename).rsplit(".", 1)[0])
    if covid:
        stem = re.sub(r"_\d+$", "", re.sub(r"-p\d+-\d+[a-z]?$", "", stem))
    return f"{'COVID' if covid else 'NonCOVID'}/{stem}"


def parse_breakhis_filename(filename: str) -> dict[str, str]:
    """Fields of a BreakHis file name, plus ``patient_id`` (``<year>-<slide>``) and ``tumor_type_name``.

    ``SOB_B_A-14-22549AB-40-001.png`` -> procedure ``SOB``, tumor_class ``B``, tumor_type ``A``, year ``14``, slide
    ``22549AB``, magnification ``40``, sequence ``001``, patient_id ``14-22549AB``, tumor_type_name ``adenosis``.

    Args:
        filename: file name (a path is reduced to its name).

    Raises:
        ValueError: the name does not follow the scheme, or has an unknown tumour type.
    """
    name = os.path.basename(filename)
    match = _BREAKHIS_NAME.match(name)
    if match is None or match.group("tumor_type").upper() not in BREAKHIS_TUMOR_TYPES:
        raise ValueError(f"{name!r} is not a BreakHis file name (SOB_<B|M>_<type>-<year>-<slide>-<mag>-<seq>.png).")
    fields = {k: v.upper() if k in ("tumor_class", "tumor_type") else v for k, v in match.groupdict().items()}
    fields["patient_id"] = f"{fields['year']}-{fields['slide']}"
    fields["tumor_type_name"] = BREAKHIS_TUMOR_TYPES[fields["tumor_type"]]
    return fields


def _class_dir_records(
    root: Path, class_dirs: dict[str, Path], group_pattern: str | None, what: str
) -> list[dict[str, Any]]:
    regex = re.compile(group_pattern) if group_pattern else None
    problems, records = [], []
    names = list(class_dirs)
    for label, class_name in enumerate(names):
        for path in walk_files(class_dirs[class_name]):
            case = path.relative_to(root).as_posix()
            group = case
            if regex is not None:
                match = regex.search(path.name)
                if match is None:
                    fix = "fix the file name or the group pattern"
                    problems.append(DatalistProblem(str(path), f"name does not match {group_pattern!r}", fix))
                    continue
                group = match.group(1) if match.groups() else match.group(0)
            records.append({"image": str(path), "label": label, "case_id": case, "group": group})
    if problems:
        raise DatalistValidationError(problems, f"{what} at {root}")
    return records


def build_imagefolder_datalist(
    dataset_dir: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    group_pattern: str | None = None,
    name: str = "ImageFolder",
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """An ImageFolder tree ``<root>/<class>/**/<image>``; the label is the class folder's index.

    Args:
        dataset_dir: the root folder.
        class_names: class folders in label order (default: every sub-folder holding images, sorted).
        group_pattern: regular expression searched in each file name; its first group (or whole match) is the
            group id, e.g. ``r"^(patient\\d+)_"`` (a patient with images in two classes stays one group).
            Default: every image is its own group.
        name: dataset name written to the datalist.
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).
    """
    root = existing_dataset_dir(dataset_dir, name)
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and walk_files(d))
    names = list(class_names) if class_names is not None else found
    missing = [c for c in names if c not in found]
    if missing or not names:
        missing_text = missing or "(none with images)"
        raise InvalidDatasetError(f"{root} lacks the class folder(s) {missing_text}; it has {found}.")
    records = _class_dir_records(root, {c: root / c for c in names}, group_pattern, name)
    return finish_datalist(
        records,
        names,
        output,
        name=name,
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="file name pattern" if group_pattern else "image",
        metadata={"dataset_dir": str(root)},
    )


def _find_dir_with_children(root: Path, children: Sequence[str], max_depth: int = 4) -> Path | None:
    frontier = [root]
    for _ in range(max_depth + 1):
        for folder in frontier:
            if all((folder / c).is_dir() for c in children):
                return folder
        frontier = sorted(
            d for f in frontier for d in f.iterdir() if d.is_dir() and d.name != "__MACOSX" and d.name[0] != "."
        )
    return None


def build_kvasir_datalist(
    dataset_dir: str | os.PathLike,
    *,
    version: int = 2,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Kvasir v1 or v2: the 8 classes of ``KVASIR_CLASSES`` (label = index); each image is its own group.

    Args:
        dataset_dir: folder holding the 8 class folders (at most four levels down, e.g. ``kvasir-dataset-v2/``).
        version: 1 or 2 (names the datalist and picks the catalogue reference).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 or 2 (Kvasir v1 or v2), got {version!r}.")
    root = existing_dataset_dir(dataset_dir, f"Kvasir v{version}")
    base = _find_dir_with_children(root, KVASIR_CLASSES)
    if base is None:
        raise DatasetNotFoundError(f"no folder under {root} holds all 8 Kvasir class folders {list(KVASIR_CLASSES)}.")
    records = _class_dir_records(base, {c: base / c for c in KVASIR_CLASSES}, None, f"Kvasir v{version}")
    return finish_datalist(
        records,
        KVASIR_CLASSES,
        output,
        name=f"Kvasir v{version}",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="image (no patient ids in the release)",
        channels={"image": [3]},
        metadata=dataset_metadata(f"kvasir_v{version}", root),
    )


def build_kermany_cxr_datalist(
    dataset_dir: str | os.PathLike,
    *,
    pneumonia_subtypes: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Kermany pediatric chest X-rays, grouped by patient (:func:`kermany_patient_id`).

    Classes ``NORMAL, PNEUMONIA``, or ``NORMAL, BACTERIA, VIRUS`` with ``pneumonia_subtypes``. Images are taken from
    every ``NORMAL`` / ``PNEUMONIA`` folder below ``dataset_dir``; a file name seen twice in one class (an archive
    with a nested copy) is kept once. Allowed channels: 1 or 3 (a few public images are RGB).

    Args:
        dataset_dir: the folder (flat ``NORMAL/`` + ``PNEUMONIA/``, or the official ``chest_xray/`` tree).
        pneumonia_subtypes: split PNEUMONIA into BACTERIA and VIRUS (from the file name).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).

    Raises:
        DatalistValidationError: listing every file whose name carries no patient id (or subtype).
    """
    root = existing_dataset_dir(dataset_dir, "Kermany chest X-ray")
    class_names = ["NORMAL", "BACTERIA", "VIRUS"] if pneumonia_subtypes else ["NORMAL", "PNEUMONIA"]
    problems, records, seen = [], [], set()
    for path in walk_files(root):
        folder = next((p.name.upper() for p in path.parents if p.name.upper() in ("NORMAL", "PNEUMONIA")), None)
        if folder is None or (folder, path.name) in seen:
            continue
        seen.add((folder, path.name))
        try:
            group = kermany_patient_id(path.name)
        except ValueError as err:
            problems.append(DatalistProblem(str(path), str(err), "rename the file or remove it"))
            continue
        cls = folder
        if pneumonia_subtypes and folder == "PNEUMONIA":
            lowered = path.name.lower()
            cls = "BACTERIA" if "bacteria" in lowered else "VIRUS" if "virus" in lowered else ""
            if not cls:
                fix = "build without pneumonia_subtypes"
                problems.append(DatalistProblem(str(path), "no 'bacteria' / 'virus' in the name", fix))
                continue
        case = f"{folder}/{path.name}"
        records.append({"image": str(path), "label": class_names.index(cls), "case_id": case, "group": group})
    if problems:
        raise DatalistValidationError(problems, f"Kermany chest X-ray at {root}")
    return finish_datalist(
        records,
        class_names,
        output,
        name="Kermany chest X-ray",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="patient (personN / IM-xxxx)",
        channels={"image": [1, 3]},
        metadata=dataset_metadata("kermany_cxr", root),
    )


def build_covid_ct_datalist(
    dataset_dir: str | os.PathLike,
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """COVID-CT: classes ``NonCOVID, COVID`` (label 1 = COVID), grouped by :func:`covid_ct_source_id`.

    Args:
        dataset_dir: folder holding ``CT_COVID/`` and ``CT_NonCOVID/`` (at any depth).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).
    """
    root = existing_dataset_dir(dataset_dir, "COVID-CT")
    records = []
    for path in walk_files(root):
        parents = [p.name for p in path.parents]
        if "CT_COVID" not in parents and "CT_NonCOVID" not in parents:
            continue
        covid = "CT_COVID" in parents
        case = f"{'CT_COVID' if covid else 'CT_NonCOVID'}/{path.name}"
        group = covid_ct_source_id(path.name, covid)
        records.append({"image": str(path), "label": int(covid), "case_id": case, "group": group})
    return finish_datalist(
        records,
        ["NonCOVID", "COVID"],
        output,
        name="COVID-CT",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="source paper (COVID) / source figure (NonCOVID)",
        channels={"image": [1, 3, 4]},
        metadata=dataset_metadata("covid_ct", root),
    )


def build_breakhis_datalist(
    dataset_dir: str | os.PathLike,
    *,
    label_level: str = "binary",
    magnifications: Sequence[str] | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """BreakHis, grouped by patient (:func:`parse_breakhis_filename`).

    Args:
        dataset_dir: folder holding the ``SOB_*.png`` images (any depth, e.g. ``BreaKHis_v1/histology_slides``).
        label_level: ``"binary"`` (benign, malignant) or ``"subtype"`` (the 8 tumour types, benign first).
        magnifications: keep only these, e.g. ``("40X",)`` (default: all four).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for stratified group k-fold.
        output: JSON file to write (optional).
    """
    if label_level not in ("binary", "subtype"):
        raise ValueError(f"label_level must be 'binary' or 'subtype', got {label_level!r}.")
    keep = None
    if magnifications is not None:
        keep = {str(m).upper().rstrip("X") for m in magnifications}
        if not keep <= {"40", "100", "200", "400"}:
            raise ValueError(f"magnifications must be among 40X, 100X, 200X, 400X; got {list(magnifications)}.")
    root = existing_dataset_dir(dataset_dir, "BreakHis")
    class_names = ["benign", "malignant"] if label_level == "binary" else list(BREAKHIS_TUMOR_TYPES.values())
    records = []
    for path in walk_files(root, (".png",)):
        if not path.name.upper().startswith("SOB_"):
            continue
        fields = parse_breakhis_filename(path.name)
        if keep is not None and fields["magnification"] not in keep:
            continue
        cls = {"B": "benign", "M": "malignant"}[fields["tumor_class"]]
        label = class_names.index(cls if label_level == "binary" else fields["tumor_type_name"])
        records.append({"image": str(path), "label": label, "case_id": path.stem, "group": fields["patient_id"]})
    return finish_datalist(
        records,
        class_names,
        output,
        name="BreakHis",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="patient (<year>-<slide> in the file name)",
        channels={"image": [3]},
        metadata={**dataset_metadata("breakhis", root), "magnifications": sorted(keep, key=int) if keep else "all"},
    )
