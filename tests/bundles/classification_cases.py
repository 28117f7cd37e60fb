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
"""Shared pieces of the classification-bundle tests: tiny network overrides and tiny real-image datalists.

Each bundle is mapped to real images in ``../shared/data`` that fit its task: HAM10000 for the skin bundles (hifuse,
mfsf2net), chest X-ray (Kermany) for the GI bundles (cdfinet, medmamba), whose default Kvasir v1 is not available
offline. Sizes are the smallest the networks accept (32 x 32, tiny widths), so a whole train -> evaluate -> infer
cycle takes seconds.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from tests.utils import REPO_ROOT, require_data

CLASSIFICATION_BUNDLES = ("cdfinet", "hifuse", "medmamba", "mfsf2net")
SCHEMA_NAME = "meta_schema_20240725.json"

#: network_def overrides that make each bundle's network tiny (and fast on a CPU).
TINY_NETWORKS: dict[str, dict[str, Any]] = {
    "cdfinet": {
        "network_def#channels": [8, 16, 32, 64],
        "network_def#depths": [1, 1, 1, 1],
        "network_def#d_state": 4,
        "network_def#kernel_size": 3,
        "network_def#mlp_ratio": 2,
        "network_def#stem_channels": 8,
        "network_def#mvba_heads": 2,
        "network_def#fsda_heads": 4,
        "network_def#scan_backend": "reference",
    },
    "medmamba": {
        "network_def#channels": [8, 16, 32, 64],
        "network_def#depths": [1, 1, 1, 1],
        "network_def#d_state": 4,
        "network_def#scan_backend": "reference",
    },
    "hifuse": {
        "network_def#channels": [8, 16, 32, 64],
        "network_def#depths": [1, 1, 1, 1],
        "network_def#num_heads": [1, 2, 2, 4],
        "network_def#hff_reduction": 4,
    },
    "mfsf2net": {"network_def#fuse_channels": 16},
}
IMAGE_SIZE = 32


def bundle_dir(name: str) -> Path:
    """``bundles/<name>`` of the repository."""
    return REPO_ROOT / "bundles" / name


def schema_file() -> Path:
    """The 20240725 metadata schema in ``../shared/monai`` (skips the test when it is absent)."""
    path = require_data().parent / "monai" / SCHEMA_NAME
    if not path.is_file():
        import pytest

        pytest.skip(f"{path} not found")
    return path


def _item(path: Path, label: int) -> dict[str, Any]:
    return {"image": str(path), "label": label, "case_id": path.name, "group": path.stem}


def _cxr_items() -> tuple[list[str], list[dict[str, Any]]]:
    root = require_data("chest_xray_pneumonia")
    classes = ["NORMAL", "PNEUMONIA"]
    per_class = [sorted((root / c).iterdir())[:4] for c in classes]
    return classes, [_item(p, k) for k, files in enumerate(per_class) for p in files]


def _ham_items() -> tuple[list[str], list[dict[str, Any]]]:
    root = require_data("ham10000")
    classes = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    wanted = {"nv": 3, "mel": 2, "bkl": 2, "bcc": 1}
    items = []
    with open(root / "HAM10000_metadata.csv", newline="") as f:
        for row in csv.DictReader(f):
            path = root / "images" / f"{row['image_id']}.jpg"
            if wanted.get(row["dx"], 0) > 0 and path.is_file():
                wanted[row["dx"]] -= 1
                items.append(_item(path, classes.index(row["dx"])))
    return classes, items


def tiny_datalist(name: str, folder: Path) -> tuple[Path, list[str]]:
    """Write an 8-image datalist for bundle ``name`` (4 training, 2 validation, 2 test images of real data).

    Returns:
        the JSON path and the class names.
    """
    classes, items = _ham_items() if name in ("hifuse", "mfsf2net") else _cxr_items()
    items = sorted(items, key=lambda it: (it["label"], it["case_id"]))
    order = [0, 7, 1, 6, 2, 5, 3, 4]  # both ends of the label-sorted list: each split gets different classes
    picked = [items[i] for i in order]
    datalist = {
        "name": f"tiny {name}",
        "task": "classification",
        "class_names": classes,
        "num_classes": len(classes),
        "path_keys": ["image"],
        "channels": {"image": [1, 3]},
        "training": picked[:4],
        "validation": picked[4:6],
        "test": picked[6:],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "datalist.json"
    path.write_text(json.dumps(datalist, indent=2))
    return path, classes


def workflow_overrides(name: str, out: Path, datalist: Path, classes: list[str]) -> dict[str, Any]:
    """Overrides for a tiny, fast run of bundle ``name`` writing everything under ``out``."""
    return {
        "bundle_root": str(bundle_dir(name)),
        "output_dir": str(out / "eval"),
        "ckpt_dir": str(out / "models"),
        "datalist": str(datalist),
        "class_names": classes,
        "image_size": IMAGE_SIZE,
        "num_workers": 0,
        "train_batch_size": 2,
        "val_batch_size": 2,
        "max_epochs": 2,
        "progress_bar": False,
        **TINY_NETWORKS[name],
    }


def config_paths(name: str, *files: str) -> list[str]:
    """Paths of ``bundles/<name>/configs/<file>`` for each file."""
    return [os.fspath(bundle_dir(name) / "configs" / f) for f in files]
