# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Class labels in MONAI Label's datastore, and the class names of a classification bundle.

MONAI Label's datastore keeps one label *file* per image and tag. A class label is a small JSON file holding the
class name::

    {"label": "nv"}

saved like a mask: ``PUT /datastore/label?image=<id>&tag=final`` with the file as the form field ``label`` (MONAI
Label's client: ``client.save_label("<id>", "nv.json", tag="final")``; the file name does not matter, its
``.json`` ending does). The datastore keeps it as ``labels/final/<id>.json``. Segmentation trainers read the image
labels (masks) of the datastore, classification trainers the ``.json`` labels; a studies folder may hold both.

The class name must be one of the bundle's class names (:func:`bundle_class_names`); the classification trainer
refuses unknown names (422) and names the valid ones. None of this imports monailabel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .security import RequestRefusedError

#: file name ending of a class label in the datastore.
CLASS_LABEL_EXTENSION = ".json"
#: the largest class-label file accepted (a name, not data).
MAX_CLASS_LABEL_BYTES = 4096


def is_class_label(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a class-label file (``.json``), not a mask."""
    return str(path).lower().endswith(CLASS_LABEL_EXTENSION)


def read_class_label(path: str | os.PathLike, name: str | None = None) -> str:
    """The class name held by the class-label file ``path``.

    Args:
        path: the file.
        name: how messages name the file (default: its base name, quoted).

    Raises:
        RequestRefusedError: 422 unless the file is a JSON object ``{"label": "<class name>"}`` of at most
            :data:`MAX_CLASS_LABEL_BYTES` bytes with a non-empty string.
    """
    name = name or repr(os.path.basename(str(path)))
    hint = 'a class label is a JSON file {"label": "<class name>"}'
    size = os.path.getsize(path)
    if size > MAX_CLASS_LABEL_BYTES:
        raise RequestRefusedError(422, f"{name} has {size} bytes; {hint} (at most {MAX_CLASS_LABEL_BYTES} bytes)")
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestRefusedError(422, f"{name} is not valid JSON ({e}); {hint}") from e
    label = content.get("label") if isinstance(content, dict) else None
    if not isinstance(label, str) or not label.strip():
        raise RequestRefusedError(422, f"{name} holds {json.dumps(content)[:100]}; {hint}")
    return label.strip()


def class_index(label: str, class_names: Sequence[str], image: str = "") -> int:
    """The index of ``label`` in ``class_names`` (exact match first, then case-insensitive).

    Raises:
        RequestRefusedError: 422 naming the valid class names.
    """
    if label in class_names:
        return list(class_names).index(label)
    lower = [c.lower() for c in class_names]
    if label.lower() in lower:
        return lower.index(label.lower())
    where = f" (image {image!r})" if image else ""
    raise RequestRefusedError(
        422, f"unknown class name {label!r}{where}; the model's classes are {list(class_names)}; save the label again"
    )


def bundle_class_names(
    path: str | os.PathLike, train_config: Mapping | None = None, use_record: bool = True
) -> list[str]:
    """The class names of a classification bundle, index order.

    First found: ``class_names`` of ``models/training_record.json`` (what the weights were trained with; unless
    ``use_record`` is False), ``class_names`` of ``train_config`` (the parsed ``configs/train.json``, when given), the
    channel names of ``metadata.json`` ``network_data_format.outputs.pred.channel_def``.
    """
    record = Path(path) / "models" / "training_record.json"
    if use_record and record.is_file():
        try:
            names = json.loads(record.read_text()).get("class_names")
        except (json.JSONDecodeError, AttributeError):
            names = None
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    names = (train_config or {}).get("class_names")
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return list(names)
    with open(Path(path) / "configs" / "metadata.json") as f:
        pred = next(iter(json.load(f)["network_data_format"]["outputs"].values()))
    channel_def = pred.get("channel_def", {})
    return [channel_def[k] for k in sorted(channel_def, key=int)]
