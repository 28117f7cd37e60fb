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
"""MONAI datalist JSON with leak-free splits: the common core of every dataset builder in ``monai_fusion.data``.

A datalist is the dict that ``monai.data.load_decathlon_datalist`` reads (written for this project; no code copied)::

    {
        "name": "HAM10000", "task": "classification", "reference": "...", "licence": "...",
        "class_names": ["akiec", ...], "labels": {"0": "akiec", ...}, "num_classes": 7,
        "path_keys": ["image", "mask"], "channels": {"image": [3], "mask": [1]},
        "split": {"method": "grouped_stratified", "seed": 0, "fractions": [0.8, 0.1, 0.1], "folds": null,
                  "group_key": "lesion_id"},
        "class_counts": {"training": {"akiec": 226, ...}, "validation": {...}, "test": {...}},
        "numTraining": 6836, "numValidation": 854, "numTest": 854,
        "training": [{"image": "/abs/ISIC_0027419.jpg", "label": 2, "case_id": "ISIC_0027419",
                      "group": "HAM_0000118"}, ...],
        "validation": [...], "test": [...]
    }

Classification items carry ``label`` as the class index; segmentation items carry the mask path in ``label`` (MONAI's
convention, so ``LoadImaged(keys=["image", "label"])`` works unchanged); extra images go under other keys (``mask``,
``rcm``). Every item has ``case_id`` (unique) and ``group`` (the unit that never crosses splits).

With ``folds=k`` the test split is held out first (``fractions[-1]``), and every other item is listed under
``training`` with a ``fold`` key (0 .. k-1), MONAI's cross-validation convention; ``validation`` is then empty and
:func:`select_datalist_fold` gives the training / validation lists of one fold.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_fusion.data.errors import InvalidDatasetError
from monai_fusion.data.splits import GroupedStratifiedSplitter

__all__ = [
    "DATALIST_SECTIONS",
    "build_split_datalist",
    "datalist_path_keys",
    "infer_datalist_task",
    "load_datalist_json",
    "save_datalist_json",
    "select_datalist_fold",
]

DATALIST_SECTIONS = ("training", "validation", "test")
_TASKS = ("classification", "segmentation")
#: endings of a file path (not a class name) in a ``label`` entry: the mask of a segmentation item
_MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".nii", ".nii.gz", ".dcm", ".nrrd", ".mha")


def infer_datalist_task(datalist: Mapping[str, Any]) -> str:
    """``"classification"`` or ``"segmentation"``: the datalist's ``task`` entry, else what its labels look like.

    A datalist without ``task`` (one written by hand, e.g.
    ``{"training": [{"image": "a.png", "label": "a_mask.png"}]}``) is a segmentation datalist when a ``label`` of its
    items is a file path (a string with a path separator or an image file ending, or a list of such strings);
    otherwise it is a classification datalist (class indices or names).

    Args:
        datalist: a datalist dict.

    Raises:
        InvalidDatasetError: ``task`` is given but is neither of the two.
    """
    task = datalist.get("task")
    if task is not None:
        if task not in _TASKS:
            raise InvalidDatasetError(f"the datalist's task must be one of {_TASKS}, got {task!r}; fix its 'task'.")
        return str(task)
    for section in DATALIST_SECTIONS:
        for item in datalist.get(section, []) or []:
            label = item.get("label") if isinstance(item, Mapping) else None
            values = label if isinstance(label, list) else [label]
            for value in values:
                if isinstance(value, str) and ("/" in value or "\\" in value or value.lower().endswith(_MASK_SUFFIXES)):
                    return "segmentation"
    return "classification"


def datalist_path_keys(datalist: Mapping[str, Any], task: str | None = None) -> list[str]:
    """The item keys that hold file paths: the datalist's ``path_keys`` (default ``["image"]``), plus ``label`` for
    segmentation (the mask).

    Args:
        datalist: a datalist dict.
        task: ``"classification"`` or ``"segmentation"``; None infers it (:func:`infer_datalist_task`).
    """
    keys = list(datalist.get("path_keys", ["image"]))
    if (task or infer_datalist_task(datalist)) == "segmentation" and "label" not in keys:
        keys.append("label")
    return keys


def load_datalist_json(path: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Read a datalist JSON file and make its file paths absolute.

    Relative paths are resolved against the file's folder, as ``monai.data.load_decathlon_datalist`` does, under every
    key of :func:`datalist_path_keys` (so the mask of a segmentation item too). A hand-written datalist needs no other
    entry than its sections: ``{"training": [{"image": "img/1.png", "label": "masks/1.png"}], "validation": [...]}``.

    Args:
        path: the JSON file.
        task: ``"classification"`` or ``"segmentation"``; None reads the datalist's ``task`` or infers it from its
            labels (:func:`infer_datalist_task`).

    Returns:
        the datalist dict, with ``task`` set.

    Raises:
        DatasetNotFoundError: the file does not exist.
        InvalidDatasetError: the file is not a JSON object.
    """
    from monai_fusion.data.errors import DatasetNotFoundError

    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetNotFoundError(
            f"datalist {os.path.abspath(file)} does not exist; give the path of a datalist JSON file (e.g. one written "
            "by `python -m monai_fusion.data prepare`)."
        )
    try:
        datalist = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidDatasetError(f"datalist {file} is not valid JSON ({err}); fix or rebuild it.") from err
    if not isinstance(datalist, dict):
        raise InvalidDatasetError(
            f"datalist {file} holds a JSON {type(datalist).__name__}, not an object with 'training' / 'validation' "
            "lists of items."
        )
    task = task or infer_datalist_task(datalist)
    base = os.path.abspath(file.parent)
    keys = datalist_path_keys(datalist, task)
    for section in DATALIST_SECTIONS:
        for item in datalist.get(section, []) or []:
            for key in keys:
                value = item.get(key)
                if isinstance(value, str):
                    item[key] = os.path.normpath(os.path.join(base, value))
                elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                    item[key] = [os.path.normpath(os.path.join(base, v)) for v in value]
    datalist["task"] = task
    return datalist


def _count_classes(items: Sequence[Mapping[str, Any]], class_names: Sequence[str], task: str) -> dict[str, int]:
    if task == "segmentation":
        return {class_names[-1] if class_names else "foreground": len(items)}
    counts = dict.fromkeys(class_names, 0)
    for item in items:
        counts[class_names[item["label"]]] += 1
    return counts


def _check_split_args(fractions: Sequence[float], folds: int | None) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (training, validation, test), e.g. (0.8, 0.1, 0.1); got {fractions}.")
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 2):
        raise ValueError(f"folds must be None (a single split) or an int >= 2, got {folds!r}.")
    return fractions


def build_split_datalist(
    records: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    *,
    name: str,
    task: str = "classification",
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    group_key: str = "group",
    path_keys: Sequence[str] = ("image",),
    channels: Mapping[str, Sequence[int]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Split ``records`` by group and class and return the datalist dict described in the module docstring.

    Args:
        records: one dict per case with at least ``image``, ``label``, ``case_id`` and ``group``. Classification
            labels are class indices into ``class_names``; segmentation labels are mask paths.
        class_names: the classes, in label-index order. For segmentation, ``["background", "<structure>"]``.
        name: dataset name written to the datalist.
        task: ``"classification"`` or ``"segmentation"`` (segmentation splits are grouped, not stratified).
        seed: split seed.
        fractions: training / validation / test fractions (8:1:1 by default).
        folds: ``None`` for one split, or k >= 2 for stratified group k-fold on the non-test part (then only the
            test fraction of ``fractions`` is used: everything else is divided into the k folds).
        group_key: what ``group`` means for this dataset (e.g. ``"lesion_id"``), recorded in ``split``.
        path_keys: item keys that hold file paths (checked by ``validate_datalist``).
        channels: allowed channel counts per path key, e.g. ``{"image": [3], "mask": [1]}``.
        metadata: extra top-level entries (``description``, ``reference``, ``licence``, ``dataset_dir`` ...).

    Returns:
        the datalist dict (JSON-serialisable).
    """
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}.")
    fractions = _check_split_args(fractions, folds)
    if not records:
        raise InvalidDatasetError(f"no records to split for {name!r}: the dataset folder holds no usable images.")
    class_names = [str(c) for c in class_names]
    case_ids = [str(r["case_id"]) for r in records]
    if len(set(case_ids)) != len(case_ids):
        dupes = sorted({c for c in case_ids if case_ids.count(c) > 1})[:10]
        raise InvalidDatasetError(f"case_id must be unique within {name!r}; repeated: {dupes}.")
    if task == "classification":
        bad = [
            r["case_id"]
            for r in records
            if not isinstance(r.get("label"), int) or not 0 <= r["label"] < len(class_names)
        ]
        if bad:
            raise ValueError(f"labels must be class indices 0..{len(class_names) - 1}; not so for cases {bad[:10]}.")
    ordered = sorted((dict(r) for r in records), key=lambda r: str(r["case_id"]))
    groups = [str(r["group"]) for r in ordered]
    strata = [r["label"] if task == "classification" else 0 for r in ordered]

    if folds is None:
        assignment = GroupedStratifiedSplitter(fractions, seed=seed).assign(strata, groups)
    else:
        if fractions[2] > 0:
            outer = GroupedStratifiedSplitter((1.0 - fractions[2], fractions[2]), seed=seed).assign(strata, groups)
        else:
            outer = np.zeros(len(ordered), dtype=np.int64)
        assignment = np.where(outer == 1, 2, 0)
        inner = np.flatnonzero(outer == 0)
        fold_ids = GroupedStratifiedSplitter.kfold(folds, seed=seed).assign(
            [strata[i] for i in inner], [groups[i] for i in inner]
        )
        for i, fold in zip(inner, fold_ids):
            ordered[i]["fold"] = int(fold)

    sections: dict[str, list[dict[str, Any]]] = {s: [] for s in DATALIST_SECTIONS}
    for record, split in zip(ordered, assignment):
        sections[DATALIST_SECTIONS[int(split)]].append(record)

    datalist: dict[str, Any] = {"name": name, "task": task}
    datalist.update(dict(metadata or {}))
    datalist.update(
        {
            "class_names": class_names,
            "labels": {str(i): c for i, c in enumerate(class_names)},
            "num_classes": len(class_names),
            "path_keys": list(path_keys),
            "channels": {k: [int(c) for c in v] for k, v in (channels or {}).items()},
            "split": {
                "method": "grouped_stratified" if folds is None else "grouped_stratified_kfold",
                "seed": int(seed),
                "fractions": list(fractions),
                "folds": folds,
                "group_key": group_key,
            },
            "class_counts": {s: _count_classes(sections[s], class_names, task) for s in DATALIST_SECTIONS},
        }
    )
    if folds is not None:
        datalist["fold_class_counts"] = {
            str(k): _count_classes([r for r in sections["training"] if r["fold"] == k], class_names, task)
            for k in range(folds)
        }
    datalist.update({"numTraining": len(sections["training"]), "numValidation": len(sections["validation"])})
    datalist["numTest"] = len(sections["test"])
    datalist.update(sections)
    return datalist


def select_datalist_fold(datalist: Mapping[str, Any], fold: int) -> dict[str, Any]:
    """The datalist of one cross-validation fold: items of ``fold`` become ``validation``, the rest ``training``.

    Args:
        datalist: a datalist built with ``folds=k``.
        fold: 0 .. k-1.

    Returns:
        a new datalist dict (``split.fold`` set, class counts recomputed); ``test`` is unchanged.
    """
    folds = datalist.get("split", {}).get("folds")
    if not folds:
        raise InvalidDatasetError("this datalist has no folds; build it with folds=k to use cross-validation.")
    if not 0 <= fold < folds:
        raise InvalidDatasetError(f"fold must be in 0..{folds - 1}, got {fold}.")
    out = copy.deepcopy(dict(datalist))
    items = out["training"] + out["validation"]
    out["training"] = [r for r in items if r.get("fold") != fold]
    out["validation"] = [r for r in items if r.get("fold") == fold]
    out["split"]["fold"] = fold
    out["class_counts"] = {
        s: _count_classes(out[s], out.get("class_names", []), infer_datalist_task(out)) for s in DATALIST_SECTIONS
    }
    out["numTraining"], out["numValidation"] = len(out["training"]), len(out["validation"])
    return out


def save_datalist_json(
    datalist: Mapping[str, Any], path: str | os.PathLike, relative_to: str | os.PathLike | None = None
) -> Path:
    """Write ``datalist`` as indented JSON (parent folders are created).

    Args:
        datalist: a datalist dict.
        path: the JSON file to write.
        relative_to: when given, paths under ``path_keys`` are written relative to this folder (for split files
            committed to a repository); load them with ``load_decathlon_datalist(path, base_dir=relative_to)``.

    Returns:
        the path written.
    """
    out = copy.deepcopy(dict(datalist))
    if relative_to is not None:
        base = os.path.abspath(relative_to)
        keys = list(out.get("path_keys", ["image"]))
        for section in DATALIST_SECTIONS:
            for item in out.get(section, []):
                for key in keys:
                    value = item.get(key)
                    if isinstance(value, str):
                        item[key] = os.path.relpath(value, base)
                    elif isinstance(value, list):
                        item[key] = [os.path.relpath(v, base) for v in value]
        out.pop("dataset_dir", None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=4) + "\n")
    return path
