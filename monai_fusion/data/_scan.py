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
"""File-system helpers shared by the dataset builders: recursive scans that skip archive litter, CSV reading, and the
common "split, then write" step. Written for this project; no code copied.

Scans are recursive so that a dataset may sit in its official archive layout (``HAM10000_images_part_1/``,
``chest_xray/train/NORMAL/``, ``BreaKHis_v1/histology_slides/...``) or in a flattened copy. ``__MACOSX`` folders and
hidden files (``._name`` resource forks) are skipped.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_fusion.data.datalist import build_split_datalist, save_datalist_json
from monai_fusion.data.errors import DatasetNotFoundError, InvalidDatasetError

__all__ = [
    "IMAGE_SUFFIXES",
    "dataset_metadata",
    "existing_dataset_dir",
    "finish_datalist",
    "find_named_file",
    "index_by_stem",
    "read_csv_rows",
    "walk_files",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_SKIP_DIRS = {"__MACOSX"}


def existing_dataset_dir(dataset_dir: str | os.PathLike, what: str) -> Path:
    """``dataset_dir`` as an absolute path; a clear ``FileNotFoundError`` when it is not a folder.

    Args:
        dataset_dir: the folder given by the user.
        what: the dataset's name, for the message.
    """
    path = Path(dataset_dir).expanduser().resolve()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"{what} folder not found: {path}. Point dataset_dir / --dataset-dir at the extracted dataset, or fetch "
            f"it with `python -m monai_fusion.data prepare <name> --download` (see `python -m monai_fusion.data list`)."
        )
    return path


def walk_files(root: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Files under ``root`` (recursively) whose lower-cased name ends with one of ``suffixes``, sorted.

    Args:
        root: folder to scan.
        suffixes: accepted endings, lower case, with the dot.
    """
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(tuple(suffixes)):
                found.append(Path(folder, name))
    return sorted(found)


def index_by_stem(paths: Iterable[Path], strip_suffix: str = "") -> dict[str, Path]:
    """Map file stems (minus ``strip_suffix``) to paths; with duplicates, the shortest path wins.

    Args:
        paths: files.
        strip_suffix: removed from the end of each stem, e.g. ``"_segmentation"``.
    """
    index: dict[str, Path] = {}
    for path in sorted(paths, key=lambda p: (len(p.parts), str(p))):
        stem = path.name.split(".")[0]
        if strip_suffix and stem.endswith(strip_suffix):
            stem = stem[: -len(strip_suffix)]
        index.setdefault(stem, path)
    return index


def find_named_file(root: Path, name: str) -> Path | None:
    """The shallowest file called ``name`` under ``root`` (or ``None``).

    Args:
        root: folder to search.
        name: exact file name.
    """
    candidates = [p for p in walk_files(root, (name.lower(),)) if p.name == name]
    return min(candidates, key=lambda p: (len(p.parts), str(p))) if candidates else None


def read_csv_rows(path: Path, required: Sequence[str] = ()) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts (BOM and surrounding spaces stripped); ``ValueError`` if columns are missing.

    Args:
        path: CSV file.
        required: column names that must be present.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in required if c not in fields]
        if missing:
            raise InvalidDatasetError(f"{path} lacks the column(s) {missing}; it has {fields}.")
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def dataset_metadata(catalogue_name: str, dataset_dir: Path) -> dict[str, Any]:
    """Top-level datalist entries (reference, licence, homepage, dataset_dir) for a catalogued dataset.

    Args:
        catalogue_name: key in ``DATASET_CATALOGUE``.
        dataset_dir: where the data was read from.
    """
    from monai_fusion.data.catalogue import DATASET_CATALOGUE

    info = DATASET_CATALOGUE[catalogue_name]
    return {
        "description": info.title,
        "reference": info.citation,
        "licence": info.licence,
        "homepage": info.homepage,
        "dataset_dir": str(dataset_dir),
    }


def finish_datalist(
    records: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    output: str | os.PathLike | None,
    **kwargs: Any,
) -> dict[str, Any]:
    """``build_split_datalist(records, class_names, **kwargs)``, written to ``output`` when given.

    Args:
        records: the items.
        class_names: the classes.
        output: JSON path to write, or ``None``.
        kwargs: forwarded to ``build_split_datalist``.
    """
    datalist = build_split_datalist(records, class_names, **kwargs)
    if output is not None:
        save_datalist_json(datalist, output)
    return datalist
