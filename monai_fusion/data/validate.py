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
"""Check a datalist before any training, and report every problem at once.

:func:`validate_datalist` checks that every file exists, decodes (PIL for 2-D images, NiBabel for NIfTI, pydicom for
DICOM files and series folders) and has an allowed number of channels; that no file is empty, holds something other
than an image under an image extension, is a DICOM object without pixel data, has more than 4 axes or holds NaN /
infinite values; that every classification label is a known class; that every mask has its image's size; that no
case id, group (lesion / patient) or image path appears in two splits, nor a group in two cross-validation folds. It
collects all problems and raises one :class:`DatalistValidationError` whose message lists each with the file, the
reason and a fix; the problems are also attached as ``error.problems``. Written for this project (no code copied);
a ``tqdm`` progress bar shows for long runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from monai_fusion.data.datalist import DATALIST_SECTIONS, datalist_path_keys, infer_datalist_task
from monai_fusion.data.errors import InvalidDatasetError

__all__ = ["DatalistProblem", "DatalistValidationError", "ImageFileError", "inspect_image_file", "validate_datalist"]

logger = logging.getLogger(__name__)

_NIFTI_SUFFIXES = (".nii", ".nii.gz", ".img", ".hdr")
_DICOM_SUFFIXES = (".dcm", ".dicom")
_DICOM_PLUGIN_HINT = (
    "install a DICOM pixel-data decoder: `pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg` "
    "(JPEG / JPEG 2000) or `pip install python-gdcm`"
)


@dataclass(frozen=True)
class DatalistProblem:
    """One problem found in a datalist.

    Args:
        path: the file concerned (or the case id when no file is involved).
        reason: what is wrong.
        fix: how to fix it.
        section: datalist section (``training`` / ``validation`` / ``test``), empty when not applicable.
        index: item index within the section, -1 when not applicable.
        key: item key (``image``, ``label``, ``mask`` ...), empty when not applicable.
    """

    path: str
    reason: str
    fix: str
    section: str = ""
    index: int = -1
    key: str = ""

    def __str__(self) -> str:
        where = f"[{self.section} #{self.index} {self.key}] " if self.section else ""
        return f"{where}{self.path}: {self.reason.rstrip('.')}. Fix: {self.fix}"


class ImageFileError(ValueError):
    """A file that exists but is not a usable image; carries the fix to report with it.

    Args:
        reason: what is wrong with the file.
        fix: how to fix it.
    """

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


_NONFINITE_FIX = (
    "replace them (e.g. numpy.nan_to_num, or the scanner software's export) and save the file again, or remove it "
    "from the datalist; one such value makes the loss NaN and stops training"
)


def _check_finite(data: np.ndarray) -> None:
    """Raise :class:`ImageFileError` when a floating-point array holds NaN or infinite values."""
    if not np.issubdtype(data.dtype, np.floating) and not np.issubdtype(data.dtype, np.complexfloating):
        return
    n_nan = int(np.isnan(data).sum())
    n_inf = int(np.isinf(data).sum())
    if n_nan or n_inf:
        raise ImageFileError(f"holds {n_nan} NaN and {n_inf} infinite value(s)", _NONFINITE_FIX)


class DatalistValidationError(InvalidDatasetError):
    """Raised with every problem found in a datalist (or in a dataset folder while building one).

    Args:
        problems: the problems; at least one.
        subject: what was checked, used in the message header.
    """

    def __init__(self, problems: Sequence[DatalistProblem], subject: str = "datalist") -> None:
        self.problems = list(problems)
        self.subject = subject
        lines = [f"{len(self.problems)} problem(s) in {subject}:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def _dicom_info(files: Sequence[Path]) -> tuple[tuple[int, ...], int]:
    import pydicom

    rows = cols = samples = 0
    for f in files:
        ds = pydicom.dcmread(str(f))
        if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise ImageFileError(
                f"DICOM file {f.name} has no pixel data (no PixelData element): it is not an image, e.g. a structured "
                "report, a presentation state or a header-only export",
                f"remove {f} from the {'series folder' if len(files) > 1 else 'datalist'}, or export the image again "
                "with its pixel data",
            )
        try:
            ds.pixel_array  # noqa: B018 - decoding is the check
        except (RuntimeError, NotImplementedError) as err:
            syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
            raise RuntimeError(f"no decoder for transfer syntax {syntax} ({err}); {_DICOM_PLUGIN_HINT}") from err
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            _check_finite(np.asarray(ds.pixel_array))
        rows, cols, samples = int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1))
    size = (cols, rows) if len(files) == 1 else (cols, rows, len(files))
    return size, samples


def inspect_image_file(path: str | os.PathLike) -> tuple[tuple[int, ...], int]:
    """Fully decode one image file and return its spatial size and number of channels.

    2-D formats go through PIL (size as (width, height)); channels are counted as the bundles' loader
    (``LoadMedicalImage``) sees them, so a palette image has 1 channel when its palette is gray and 3 (4 with
    transparency) when it is coloured. NIfTI goes through NiBabel (size as the first three axes, channels from a 4th
    axis; 5 or more axes are refused); DICOM files (by suffix, or any file PIL cannot identify that has the DICOM
    preamble), and folders of DICOM files (a series), through pydicom (size (columns, rows[, slices])). Floating-point
    data (NIfTI, TIFF mode ``"F"``, DICOM float pixel data) must be finite.

    Args:
        path: image file or DICOM series folder.

    Returns:
        ``(size, channels)``.

    Raises:
        FileNotFoundError: the path does not exist.
        ImageFileError: an empty file, a file no image format recognises, a DICOM file without pixel data, data
            with more than 4 axes, NaN or infinite values (the error carries the fix).
        Exception: whatever the decoder raises for a corrupt file (``OSError`` for a truncated JPEG); a
            ``RuntimeError`` naming the plugin to install when a compressed DICOM cannot be decoded.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(str(path))
    if path.is_file() and path.stat().st_size == 0:
        raise ImageFileError(
            "empty file (0 bytes)",
            "a download or copy was interrupted: restore the file (re-download the dataset), or remove it from the "
            "datalist",
        )
    name = path.name.lower()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError("empty folder (expected a DICOM series)")
        return _dicom_info(files)
    if name.endswith(_NIFTI_SUFFIXES):
        import nibabel

        img = nibabel.load(str(path))
        data = np.asanyarray(img.dataobj)
        if data.ndim > 4:
            raise ImageFileError(
                f"NIfTI data of shape {tuple(data.shape)} has {data.ndim} axes; a 2-D or 3-D image, with an optional "
                "4th axis of channels, is expected",
                "save each volume as its own file (nibabel: image.slicer[..., k]), or pick the volume before training",
            )
        _check_finite(data)
        channels = int(data.shape[3]) if data.ndim >= 4 else 1
        return tuple(int(s) for s in data.shape[:3]), channels
    if name.endswith(_DICOM_SUFFIXES):
        return _dicom_info([path])
    from PIL import Image, UnidentifiedImageError

    from monai_fusion.transforms.io import standardize_pil_mode

    try:
        with Image.open(path) as im:
            im.load()
            decoded = standardize_pil_mode(im)  # palette -> L / RGB (/ LA / RGBA), as LoadMedicalImage reads it
            if decoded.mode == "F":
                _check_finite(np.asarray(decoded))
            return tuple(int(s) for s in im.size), len(decoded.getbands())
    except UnidentifiedImageError as err:
        import pydicom

        if not pydicom.misc.is_dicom(str(path)):  # DICOM files often have no suffix
            with open(path, "rb") as f:
                head = f.read(24)
            raise ImageFileError(
                f"not an image: no image format recognises its content, which begins with {head!r}",
                "the file has an image extension but holds something else (often an HTML error page or a text file "
                "saved by a failed download): re-download it, or remove it from the datalist",
            ) from err
    return _dicom_info([path])


def _resolve(value: str, base_dir: Path | None) -> str:
    if base_dir is None or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(base_dir, value))


def _as_paths(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _check_label(item: Mapping[str, Any], class_names: Sequence[str], section: str, index: int) -> list:
    where = {"section": section, "index": index, "key": "label"}
    case = str(item.get("case_id", item.get("image", "?")))
    fix = f"correct the label, or add the class to class_names {list(class_names)} and rebuild the datalist"
    if "label" not in item:
        return [DatalistProblem(case, "no label", "add a 'label' (class index) to the item", **where)]
    label = item["label"]
    if isinstance(label, str):
        if label not in class_names:
            return [DatalistProblem(case, f"unknown label {label!r} (not a class name)", fix, **where)]
        return []
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(class_names):
        reason = f"unknown label {label!r} (expected a class index 0..{len(class_names) - 1})"
        return [DatalistProblem(case, reason, fix, **where)]
    return []


def validate_datalist(
    datalist: Mapping[str, Any] | str | os.PathLike,
    *,
    base_dir: str | os.PathLike | None = None,
    decode: bool = True,
    channels: Mapping[str, Sequence[int]] | None = None,
    sections: Sequence[str] = DATALIST_SECTIONS,
    progress: bool = True,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
) -> int:
    """Check a datalist and raise one error listing every problem.

    Labels are checked against the class names only for classification. A segmentation datalist needs nothing but
    ``image`` and ``label`` (the mask file) in each item: ``{"training": [{"image": "1.png", "label": "1_mask.png"}]}``
    is recognised as one (see ``infer_datalist_task``), and each mask must exist, decode and have its image's size.

    Args:
        datalist: a datalist dict or the path of its JSON file.
        base_dir: folder that relative paths are resolved against; defaults to the JSON file's folder (as
            ``load_decathlon_datalist`` does), or to the current folder for a dict.
        decode: decode every file (slow on large sets); with False only existence is checked, and mask sizes and
            channels are not.
        channels: allowed channel counts per path key, overriding the datalist's ``channels`` entry.
        sections: the sections to check.
        progress: show a tqdm progress bar.
        task: ``"classification"`` or ``"segmentation"``; None reads the datalist's ``task``, or infers it from its
            labels (mask file paths mean segmentation).
        class_names: the classes of a classification datalist, in label order, overriding its ``class_names`` entry
            (for a hand-written datalist that has none); labels must be indices into them or one of them.

    Returns:
        the number of items checked.

    Raises:
        DatalistValidationError: with every problem found (``error.problems``).
    """
    subject = "datalist"
    if not isinstance(datalist, Mapping):
        json_path = Path(datalist)
        subject = str(json_path)
        datalist = json.loads(json_path.read_text())
        base_dir = json_path.parent if base_dir is None else base_dir
    base = Path(base_dir) if base_dir is not None else None
    task = task or infer_datalist_task(datalist)
    class_names = [str(c) for c in (class_names if class_names is not None else datalist.get("class_names", []))]
    path_keys = datalist_path_keys(datalist, task)
    allowed = {k: list(v) for k, v in (channels if channels is not None else datalist.get("channels", {})).items()}
    mask_keys = [k for k in path_keys if k == "mask" or (task == "segmentation" and k == "label")]

    problems: list[DatalistProblem] = []
    seen: dict[str, dict[str, str]] = {"case_id": {}, "group": {}, "image": {}}
    repeated: set[tuple[str, str, str]] = set()
    group_folds: dict[str, int] = {}
    items = [(s, i, item) for s in sections for i, item in enumerate(datalist.get(s, []))]
    check_labels = task == "classification" and bool(class_names)
    if task == "classification" and not class_names and items:
        reason = "a classification datalist without 'class_names', so its labels cannot be checked"
        fix = (
            'add "class_names": [...] (the classes in label order) to it, or pass them (a bundle\'s --class_names); '
            'for segmentation, give each item\'s mask file under "label" (or set "task": "segmentation")'
        )
        problems.append(DatalistProblem(subject, reason, fix))
    for section, index, item in tqdm(items, desc="validating datalist", disable=not progress, unit="item"):
        if check_labels:
            problems += _check_label(item, class_names, section, index)
        sizes: dict[str, tuple[int, ...]] = {}
        for key in path_keys:
            paths = _as_paths(item.get(key))
            if paths is None:
                reason = f"no file path under '{key}'"
                fix = f"every item needs '{key}'; rebuild the datalist"
                problems.append(DatalistProblem(str(item.get("case_id", "?")), reason, fix, section, index, key))
                continue
            for raw in paths:
                path = _resolve(raw, base)
                if not os.path.exists(path):
                    fix = "restore the file (re-download the dataset) or rebuild the datalist without it"
                    problems.append(DatalistProblem(path, "file not found", fix, section, index, key))
                    continue
                if not decode:
                    continue
                try:
                    size, n_channels = inspect_image_file(path)
                except ImageFileError as err:
                    problems.append(DatalistProblem(path, err.reason, err.fix, section, index, key))
                    continue
                except Exception as err:  # any decoder failure is a problem to report, whatever its type
                    fix = (
                        _DICOM_PLUGIN_HINT
                        if "no decoder" in str(err)
                        else "the file is corrupt or truncated: re-download it, or delete it and rebuild the datalist"
                    )
                    reason = f"cannot be decoded ({type(err).__name__}: {err})"
                    problems.append(DatalistProblem(path, reason, fix, section, index, key))
                    continue
                if key in allowed and n_channels not in allowed[key]:
                    expected = " or ".join(map(str, allowed[key]))
                    reason = f"has {n_channels} channel(s), expected {expected}"
                    fix = "convert the file, or add a channel transform and allow the count in the datalist 'channels'"
                    if path.lower().endswith(_NIFTI_SUFFIXES) and n_channels > 1:
                        reason = f"is 4-D: its 4th axis is read as {n_channels} channel(s), expected {expected}"
                        fix = (
                            "save each volume of the series as its own 3-D file (nibabel: image.slicer[..., k]), "
                            "or allow the count in the datalist 'channels' if the 4th axis really holds channels"
                        )
                    problems.append(DatalistProblem(path, reason, fix, section, index, key))
                sizes.setdefault(key, size)
        image_size = sizes.get("image")
        for key in mask_keys:
            if image_size is not None and key in sizes and sizes[key] != image_size:
                mask_path = _resolve(_as_paths(item[key])[0], base)
                reason = f"mask size {sizes[key]} does not match image size {image_size}"
                fix = "regenerate the mask at the image size (or resize it with nearest-neighbour interpolation)"
                problems.append(DatalistProblem(mask_path, reason, fix, section, index, key))
        for field in ("case_id", "group", "image"):
            value = item.get(field)
            if not isinstance(value, str):
                continue
            first = seen[field].setdefault(value, section)
            what = {"case_id": "case id", "group": "group (lesion / patient)", "image": "image file"}[field]
            if first != section:
                reason = f"{what} {value!r} is in both '{first}' and '{section}' (leak between splits)"
                fix = "rebuild the datalist with a grouped split (monai_fusion.data builders do this)"
                problems.append(DatalistProblem(value, reason, fix, section, index, field))
            elif field != "group" and (field, section, value) in repeated:
                reason = f"{what} {value!r} appears more than once in '{section}'"
                problems.append(DatalistProblem(value, reason, "remove the duplicate item", section, index, field))
            repeated.add((field, section, value))
        if isinstance(item.get("fold"), int) and isinstance(item.get("group"), str):
            fold = group_folds.setdefault(item["group"], item["fold"])
            if fold != item["fold"]:
                reason = f"group {item['group']!r} is in folds {fold} and {item['fold']} (leak between folds)"
                fix = "rebuild the datalist with a grouped k-fold split"
                problems.append(DatalistProblem(item["group"], reason, fix, section, index, "fold"))
    if problems:
        raise DatalistValidationError(problems, subject)
    logger.info("datalist %s: %d items checked, no problems", subject, len(items))
    return len(items)
