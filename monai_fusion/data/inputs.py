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
"""The inputs of an inference run: every image, DICOM or NIfTI file below a folder, as datalist items."""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "list_image_files"]

#: file name endings read as images (DICOM files without a suffix are found by their ``DICM`` preamble).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".nii", ".nii.gz", ".dcm", ".dicom")


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def list_image_files(folder: str) -> list[dict[str, str]]:
    """Datalist items ``{"image": path}`` for every image file below ``folder`` (recursively, sorted).

    Paths are absolute but symbolic links are kept as given (not resolved), so outputs named after the inputs stay
    under the output folder and tables show the user's paths.

    Accepted: PNG, JPEG, BMP, TIFF, NIfTI (``.nii``/``.nii.gz``), DICOM by suffix or by its ``DICM`` preamble (files
    without a suffix, as DICOM series often are). A single image file may be given instead of a folder.

    Args:
        folder: the input folder (or one file).

    Raises:
        FileNotFoundError: ``folder`` does not exist or holds no image.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"--dataset_dir {root} does not exist; give a folder of images, DICOM or NIfTI files.")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    items = [
        {"image": str(p.absolute())}
        for p in files
        if not p.name.startswith(".") and (p.name.lower().endswith(IMAGE_SUFFIXES) or _is_dicom(p))
    ]
    if not items:
        raise FileNotFoundError(f"no image, DICOM or NIfTI file found in {root}.")
    return items
