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
"""Up-front checks of CT volumes and label maps, and the list of CT studies in a folder.

Written for this project (no code copied). A CT run goes wrong silently when its input is not what the HU windows
assume, so the CT configs run these checks on every file *before* any training or inference starts, and report every
problem at once with the file and the fix (:class:`~monai_fusion.data.validate.DatalistValidationError`; a bundle run
ends with just that message, see :func:`~monai_fusion.data.errors.exit_on_data_error`):

* values that do not look like Hounsfield units: 8-bit display intensities (0..255, e.g. a PNG stack converted to
  NIfTI) or raw stored values whose RescaleIntercept was never applied (no value below 0; a body CT always holds air,
  about -1000 HU). Checked on the data of a NIfTI file; for DICOM, whose readers apply the rescale tags themselves,
  a series of unsigned stored values without RescaleIntercept is reported;
* a 4-D volume (a time series or several volumes in one NIfTI file);
* a DICOM folder that holds several series, two slices at one position, unequal slice spacing, or missing slices (a
  gap that is a multiple of the usual spacing). Only the headers are read;
* a label map whose voxel grid is not its image's: another shape or another affine, compared in world space after
  both are brought to one axis order (a label map saved with flipped axes but covering the same voxels is accepted,
  as ``Orientationd`` then aligns them).

Heuristics, stated: the HU test needs the minimum below -200 HU; a cropped volume without air, or a volume that was
windowed on purpose, needs ``hu_check=False``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_fusion.data.errors import DatasetNotFoundError
from monai_fusion.data.inputs import _is_dicom as _is_dicom_file
from monai_fusion.data.validate import DatalistProblem, DatalistValidationError, ImageFileError

__all__ = [
    "check_ct_image",
    "check_ct_label",
    "check_ct_datalist",
    "checked_ct_studies",
    "ct_geometry",
    "list_ct_studies",
]

_NIFTI = (".nii", ".nii.gz")
#: a body CT in HU has air (about -1000 HU); a minimum above this is not HU
_HU_MIN_BELOW = -200.0
_NOT_HU_FIX = (
    "give CT values in Hounsfield units: convert the DICOM series with its rescale applied (dcm2niix, or MONAI's "
    "ITKReader / PydicomReader, apply RescaleSlope and RescaleIntercept), or point the run at the DICOM folder itself; "
    "if the values are already windowed on purpose, set hu_check to false (and drop the HU window)"
)


def _dicom_headers(folder: Path) -> list[Any]:
    import pydicom

    files = [folder] if folder.is_file() else sorted(p for p in folder.iterdir() if p.is_file())
    headers = []
    for f in files:
        if f.name.startswith(".") or not _is_dicom_file(f):
            continue
        headers.append(pydicom.dcmread(f, stop_before_pixels=True))
    if not headers:
        raise ImageFileError("no DICOM file in this folder", "give the folder of one DICOM series (or a NIfTI file)")
    return headers


def _series_geometry(path: Path, headers: list[Any]) -> tuple[tuple[int, int, int], np.ndarray]:
    """Check one DICOM series' slice positions; return its (columns, rows, slices) shape and RAS affine."""
    series = {str(getattr(h, "SeriesInstanceUID", "")) for h in headers}
    if len(series) > 1:
        raise ImageFileError(
            f"the folder holds {len(series)} DICOM series ({', '.join(sorted(series))})",
            "put each series in its own folder (a study folder may hold one sub-folder per series)",
        )
    first = headers[0]
    for tag in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
        if tag not in first:
            raise ImageFileError(f"the DICOM headers have no {tag}", "export the series as a CT image series")
    iop = np.asarray(first.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    positions = sorted(
        (float(np.dot(normal, np.asarray(h.ImagePositionPatient, dtype=float))), i) for i, h in enumerate(headers)
    )
    z = np.array([p for p, _ in positions])
    if len(z) > 1:
        gaps = np.diff(z)
        step = float(np.median(gaps))
        tol = max(0.01 * abs(step), 1e-3)
        if np.any(gaps < tol):
            k = int(np.argmin(gaps))
            raise ImageFileError(
                f"two slices lie at the same position ({z[k]:.2f} mm along the slice normal)",
                "the folder mixes two acquisitions or holds a duplicate file: keep one series per folder",
            )
        odd = np.flatnonzero(np.abs(gaps - step) > tol)
        if odd.size:
            ratios = gaps[odd] / step
            if np.allclose(ratios, np.round(ratios), atol=0.05) and np.all(np.round(ratios) >= 2):
                missing = int(np.sum(np.round(ratios) - 1))
                where = ", ".join(f"{z[k]:.2f}..{z[k + 1]:.2f} mm" for k in odd[:5])
                raise ImageFileError(
                    f"{missing} slice(s) missing: gap(s) of {', '.join(f'{g:.2f}' for g in gaps[odd][:5])} mm between "
                    f"slice positions {where}, where the series' spacing is {step:.2f} mm",
                    "copy the complete series again (every file of the SeriesInstanceUID)",
                )
            raise ImageFileError(
                f"unequal slice spacing: gaps of {', '.join(sorted({f'{g:.2f}' for g in gaps}))} mm between slices",
                "resample the series to one slice spacing (e.g. export it from the scanner/PACS as an evenly spaced "
                "reconstruction), or convert it with dcm2niix and resample with MONAI's Spacingd",
            )
    ps = np.asarray(first.PixelSpacing, dtype=float)  # (row spacing, column spacing)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * ps[1]
    lps[:3, 1] = col_dir * ps[0]
    origin = np.asarray(headers[positions[0][1]].ImagePositionPatient, dtype=float)
    if len(z) > 1:
        last = np.asarray(headers[positions[-1][1]].ImagePositionPatient, dtype=float)
        lps[:3, 2] = (last - origin) / (len(z) - 1)
    else:
        lps[:3, 2] = normal * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    lps[:3, 3] = origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return (int(first.Columns), int(first.Rows), len(z)), ras


def ct_geometry(path: str | os.PathLike) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and RAS affine of a NIfTI volume or a DICOM series (headers only; a series' slice positions checked).

    Args:
        path: a NIfTI file, a DICOM series folder or one DICOM file.

    Returns:
        (spatial shape, 4x4 RAS affine); the shape of a DICOM series is (columns, rows, slices), as MONAI reads it.

    Raises:
        ImageFileError: a 4-D volume, or a DICOM folder with several series, duplicate, missing or unevenly spaced
            slices (the error carries the fix).
    """
    p = Path(path)
    if p.name.lower().endswith(_NIFTI):
        import nibabel

        img = nibabel.load(str(p))
        shape = tuple(int(s) for s in img.shape)
        if len(shape) > 3 and any(s > 1 for s in shape[3:]):
            raise ImageFileError(
                f"a {len(shape)}-D volume of shape {shape}; one 3-D CT volume is expected",
                "save one volume per file, e.g. nibabel.save(img.slicer[..., 0], 'ct_t0.nii.gz') for the first "
                "time point, and list each file in the datalist",
            )
        return shape[:3], np.asarray(img.affine, dtype=float)
    return _series_geometry(p, _dicom_headers(p))


def _check_hu_values(p: Path) -> None:
    if p.name.lower().endswith(_NIFTI):
        import nibabel

        data = np.asanyarray(nibabel.load(str(p)).dataobj)  # applies scl_slope / scl_inter
        lo, hi = float(np.min(data)), float(np.max(data))
        if lo >= _HU_MIN_BELOW:
            kind = (
                "8-bit display intensities (0..255), e.g. windowed PNG slices stacked into a volume"
                if lo >= 0 and hi <= 255
                else "raw stored values without the DICOM RescaleIntercept (typically -1024) applied"
            )
            raise ImageFileError(
                f"values {lo:g}..{hi:g} do not look like Hounsfield units: they look like {kind}", _NOT_HU_FIX
            )
        return
    header = _dicom_headers(p)[0]
    if "RescaleIntercept" not in header and int(getattr(header, "PixelRepresentation", 1)) == 0:
        warnings.warn(
            f"{p}: unsigned DICOM pixel data without RescaleIntercept; the values may not be Hounsfield units. "
            f"Fix: {_NOT_HU_FIX}",
            stacklevel=3,
        )


def check_ct_image(path: str | os.PathLike, hu_check: bool = True) -> tuple[tuple[int, ...], np.ndarray]:
    """Check one CT volume before use: a 3-D volume, a consistent DICOM series, values in Hounsfield units.

    Args:
        path: a NIfTI file, a DICOM series folder or one DICOM file.
        hu_check: test that the values look like HU (see the module notes).

    Returns:
        (spatial shape, RAS affine), as :func:`ct_geometry`.

    Raises:
        FileNotFoundError: the path does not exist.
        ImageFileError: what is wrong and the fix (``error.reason``, ``error.fix``).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(str(p))
    geometry = ct_geometry(p)
    if hu_check:
        _check_hu_values(p)
    return geometry


def _canonical(shape: Sequence[int], affine: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and affine of the same voxel grid with its axes reordered and flipped to the closest RAS order."""
    from nibabel.orientations import inv_ornt_aff, io_orientation

    ornt = io_orientation(affine)
    canonical_affine = affine @ inv_ornt_aff(ornt, shape)
    order = np.argsort(ornt[:, 0])  # the input axis that becomes output axis k
    return tuple(int(shape[int(i)]) for i in order), canonical_affine


def check_ct_label(
    image: str | os.PathLike,
    label: str | os.PathLike,
    image_geometry: tuple[tuple[int, ...], np.ndarray] | None = None,
    atol: float = 0.01,
) -> None:
    """Check that a label map lies on its image's voxel grid (same shape and affine, in world space).

    Args:
        image: the CT volume (NIfTI file or DICOM series folder).
        label: its label map (NIfTI).
        image_geometry: the image's (shape, affine) when already known (from :func:`check_ct_image`).
        atol: tolerance in mm on the affine.

    Raises:
        ImageFileError: the label map's shape or affine differs from the image's, with both in the message.
    """
    shape, affine = image_geometry if image_geometry is not None else ct_geometry(image)
    lshape, laffine = ct_geometry(label)
    (cs, ca), (cls, cla) = _canonical(shape, affine), _canonical(lshape, laffine)
    fix = (
        "use the label map made on this very image (same voxel grid), or resample it onto the image first, e.g. "
        "with MONAI's ResampleToMatchd(keys='label', key_dst='image', mode='nearest') and save it again"
    )
    if cs != cls:
        raise ImageFileError(f"label map shape {tuple(lshape)} differs from its image's {tuple(shape)} ({image})", fix)
    if not np.allclose(ca, cla, atol=atol):
        raise ImageFileError(
            f"label map affine differs from its image's ({image}): label {np.round(laffine, 3).tolist()} vs image "
            f"{np.round(affine, 3).tolist()}",
            fix,
        )


def check_ct_datalist(
    datalist: Mapping[str, Any],
    sections: Sequence[str] = ("training", "validation"),
    hu_check: bool = True,
    image_key: str = "image",
    label_key: str = "label",
) -> Mapping[str, Any]:
    """Run :func:`check_ct_image` on every image and :func:`check_ct_label` on every label map of ``sections``.

    Args:
        datalist: a datalist with absolute paths (as ``prepare_datalist`` returns it).
        sections: the sections to check (missing ones are skipped).
        hu_check: test that the images' values look like HU.
        image_key: key of the CT volume in each item.
        label_key: key of the label map (items without it are checked as images only).

    Returns:
        ``datalist``, unchanged, so that a config can chain it.

    Raises:
        DatalistValidationError: every problem found, each with the file and the fix.
    """
    problems: list[DatalistProblem] = []
    for section in sections:
        for index, item in enumerate(datalist.get(section) or []):
            image = str(item[image_key])
            try:
                geometry = check_ct_image(image, hu_check=hu_check)
            except (ImageFileError, FileNotFoundError) as e:
                reason, fix = (e.reason, e.fix) if isinstance(e, ImageFileError) else ("does not exist", "fix the path")
                problems.append(DatalistProblem(image, reason, fix, section, index, image_key))
                continue
            if item.get(label_key) is None:
                continue
            label = str(item[label_key])
            try:
                check_ct_label(image, label, image_geometry=geometry)
            except (ImageFileError, FileNotFoundError) as e:
                reason, fix = (e.reason, e.fix) if isinstance(e, ImageFileError) else ("does not exist", "fix the path")
                problems.append(DatalistProblem(label, reason, fix, section, index, label_key))
    if problems:
        raise DatalistValidationError(problems, subject="the CT datalist")
    return datalist


_IMAGES_2D = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _is_ct_item(path: str) -> bool:
    return not path.lower().endswith(_IMAGES_2D)


def list_ct_studies(path: str | os.PathLike, images_2d: bool = False) -> list[dict[str, str]]:
    """Datalist items ``{"image": ...}`` for the CT studies at ``path``, each one volume.

    ``path`` may be a NIfTI file, a DICOM series folder, or a folder holding NIfTI files and/or DICOM series
    folders at any depth (each folder that directly holds DICOM files is one series; linked folders are followed,
    each real folder once). Sorted, absolute paths (``..`` removed, links kept as given).

    Args:
        path: the input.
        images_2d: also list PNG / JPEG / BMP / TIFF files (CT slices saved for display, e.g. COVID-CT), each as
            its own item.

    Raises:
        DatasetNotFoundError: ``path`` does not exist or holds no NIfTI file and no DICOM series.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetNotFoundError(
            f"{root} does not exist; give a NIfTI file, a DICOM series folder or a folder of them."
        )
    if root.is_file():
        return [{"image": os.path.abspath(root)}]
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    for folder, dirs, files in sorted(os.walk(root, followlinks=True)):  # linked series folders count
        real = os.path.realpath(folder)
        if real in seen:  # a link loop, or the same series linked twice
            dirs[:] = []
            continue
        seen.add(real)
        here = Path(folder)
        names = sorted(f for f in files if not f.startswith("."))
        wanted = _NIFTI + _IMAGES_2D if images_2d else _NIFTI
        items += [{"image": os.path.abspath(here / f)} for f in names if f.lower().endswith(wanted)]
        if any(_is_dicom_file(here / f) for f in names if not f.lower().endswith(_NIFTI + _IMAGES_2D)):
            items.append({"image": os.path.abspath(here)})
    if not items:
        raise DatasetNotFoundError(f"no NIfTI file and no DICOM series found in {root}.")
    return sorted(items, key=lambda item: item["image"])


def checked_ct_studies(path: str | os.PathLike, hu_check: bool = True, images_2d: bool = False) -> list[dict[str, str]]:
    """:func:`list_ct_studies` of ``path``, each study checked with :func:`check_ct_image` before any inference.

    Args:
        path: a NIfTI file, a DICOM series folder or a folder of them.
        hu_check: test that the values look like HU.
        images_2d: also list 2-D image files (not checked: they hold display intensities, not HU).

    Raises:
        DatasetNotFoundError: nothing to read at ``path``.
        DatalistValidationError: every bad study, with the fix.
    """
    items = list_ct_studies(path, images_2d=images_2d)
    ct_items = [item for item in items if _is_ct_item(item["image"])]
    check_ct_datalist({"inputs": ct_items}, sections=["inputs"], hu_check=hu_check)
    return items
