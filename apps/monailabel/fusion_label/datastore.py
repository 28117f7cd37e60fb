# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The app's datastore: MONAI Label's ``LocalDatastore`` that never writes outside the studies folder.

MONAI Label 0.8.5 joins request values into paths unchecked: ``PUT /datastore/image?image=../escape_probe`` writes
next to the studies folder and ``PUT /datastore/label?...&tag=../../../x`` creates a folder above it.
:class:`FusionDatastore` refuses (``RequestRefusedError``, 400) image ids and label tags that are not plain
names, refuses (415/422) files that are not readable images of a format the bundles read, answers 404 for unknown
image ids, and checks that every destination resolves inside the studies folder before anything is written. It
lists every format the bundles read (:data:`~fusion_label.security.IMAGE_EXTENSIONS`, ``.jpeg`` included).

Labels are masks (image files) or class labels (``.json`` files ``{"label": "<class name>"}``, see
:mod:`fusion_label.labels`); a class label is checked when it is saved (422 unless it holds a class name) and listed
from the label folders only (a ``.json`` file in the studies folder is not an image).
"""

from __future__ import annotations

import os
from typing import Any

from monailabel.datastore.local import LocalDatastore

from .labels import CLASS_LABEL_EXTENSION, is_class_label, read_class_label
from .security import (
    RequestRefusedError,
    check_image_file,
    check_inside,
    check_name,
    datastore_patterns,
    image_extension,
)


class FusionDatastore(LocalDatastore):
    """``LocalDatastore`` with checked ids, tags and files; arguments are ``LocalDatastore``'s."""

    def __init__(self, datastore_path: str, **kwargs: Any) -> None:
        kwargs.setdefault("extensions", datastore_patterns())
        self._root = os.path.realpath(datastore_path)
        super().__init__(datastore_path, **kwargs)

    def _known_image(self, image_id: str) -> None:
        check_name(image_id, "image id")
        if image_id not in self._datastore.objects:
            raise RequestRefusedError(404, f"unknown image id {image_id!r}; GET /datastore/?output=all lists the ids")

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        """``LocalDatastore.add_image`` after checking the id, the file and the destination."""
        name = os.path.basename(image_filename)
        check_image_file(image_filename, name)
        image_id = image_id or os.path.basename(image_filename)[: -len(image_extension(name))]
        check_name(image_id, "image id")
        check_inside(os.path.join(self._datastore.image_path(), image_id + image_extension(name)), self._root)
        return super().add_image(image_id, image_filename, image_info)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        """``LocalDatastore.save_label`` after checking the image id, the tag, the file and the destination."""
        self._known_image(image_id)
        check_name(label_tag, "label tag")
        if is_class_label(label_filename):
            read_class_label(label_filename, f"the label file of image {image_id!r}")
        else:
            check_image_file(label_filename, os.path.basename(label_filename))
        label_dir = self._datastore.label_path(label_tag)
        check_inside(os.path.join(label_dir, image_id), os.path.join(self._root, self._datastore.labels_dir))
        return super().save_label(image_id, label_filename, label_tag, label_info)

    def _list_files(self, path: str, patterns: list[str]) -> dict[str, str]:
        """``LocalDatastore._list_files``; in the label folders ``*.json`` class labels are listed too."""
        labels_root = os.path.realpath(self._datastore.label_path(None))
        if os.path.realpath(path).startswith(labels_root + os.sep):
            patterns = [*patterns, f"*{CLASS_LABEL_EXTENSION}"]
        return super()._list_files(path, patterns)

    def remove_image(self, image_id: str) -> None:
        """``LocalDatastore.remove_image`` of a known, plain image id."""
        self._known_image(image_id)
        super().remove_image(image_id)

    def remove_label(self, label_id: str, label_tag: str) -> None:
        """``LocalDatastore.remove_label`` of a plain id and tag."""
        check_name(label_id, "label id")
        check_name(label_tag, "label tag")
        super().remove_label(label_id, label_tag)

    def update_image_info(self, image_id: str, info: dict[str, Any]) -> None:
        """``LocalDatastore.update_image_info`` of a known image (404 otherwise)."""
        self._known_image(image_id)
        super().update_image_info(image_id, info)
