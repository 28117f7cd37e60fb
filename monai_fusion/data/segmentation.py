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
"""Datalist builders for polyp segmentation: image / mask pairs of Kvasir-SEG and CVC-ClinicDB.

Items are ``{"image": frame, "label": mask, "case_id", "group"}`` (the mask under ``label``, MONAI's segmentation
convention) and ``class_names`` is ``["background", "polyp"]``.

- Kvasir-SEG (Jha et al., MMM 2020): ``images/*.jpg`` + ``masks/*.jpg`` of the same name. The masks are JPEG (lossy,
  3 channels): binarise them (a transform in ``monai_fusion.transforms``). No patient ids are released, so each image
  is its own group.
- CVC-ClinicDB (Bernal et al., CMIG 2015): ``Original/<n>.tif`` + ``Ground Truth/<n>.tif`` (PNG copies also
  accepted). The 612 frames come from 29 colonoscopy video sequences and neighbouring frame numbers often show the
  same polyp, but the release has no frame-to-video table; pass one (``sequence_csv`` with columns
  ``frame,sequence``) for a video-grouped split. Without it each frame is its own group and a warning is logged.

Written for this project from the public file layouts; no code copied.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_fusion.data._scan import (
    dataset_metadata,
    existing_dataset_dir,
    finish_datalist,
    index_by_stem,
    read_csv_rows,
    walk_files,
)
from monai_fusion.data.errors import DatasetNotFoundError
from monai_fusion.data.validate import DatalistProblem, DatalistValidationError

__all__ = ["build_cvc_clinicdb_datalist", "build_decathlon_ct_datalist", "build_kvasir_seg_datalist"]

logger = logging.getLogger(__name__)

_POLYP_CLASSES = ("background", "polyp")


def _find_pair_dirs(root: Path, image_names: Sequence[str], mask_names: Sequence[str]) -> tuple[Path, Path] | None:
    folders = [root] + [Path(d) for d, _, _ in os.walk(root) if "__MACOSX" not in d]
    for folder in sorted(folders, key=lambda p: (len(p.parts), str(p))):
        for image_name in image_names:
            for mask_name in mask_names:
                if (folder / image_name).is_dir() and (folder / mask_name).is_dir():
                    return folder / image_name, folder / mask_name
    return None


def _pair_records(
    images_dir: Path,
    masks_dir: Path,
    groups: dict[str, str],
    what: str,
    suffixes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    found = walk_files if suffixes is None else lambda folder: walk_files(folder, suffixes)
    masks = index_by_stem(found(masks_dir))
    problems, records = [], []
    for image in found(images_dir):
        key = image.name.split(".")[0]
        mask = masks.get(key)
        if mask is None:
            fix = "add the mask or remove the image"
            problems.append(DatalistProblem(str(image), f"no mask named {key}.* in {masks_dir}", fix))
            continue
        records.append({"image": str(image), "label": str(mask), "case_id": key, "group": groups.get(key, key)})
    if problems:
        raise DatalistValidationError(problems, f"{what} at {images_dir.parent}")
    return records


def build_kvasir_seg_datalist(
    dataset_dir: str | os.PathLike,
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Kvasir-SEG polyp image / mask pairs.

    Args:
        dataset_dir: folder with ``images/`` and ``masks/`` (at any depth, e.g. ``Kvasir-SEG/``).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for group k-fold.
        output: JSON file to write (optional).

    Raises:
        DatalistValidationError: listing every image without a mask.
    """
    root = existing_dataset_dir(dataset_dir, "Kvasir-SEG")
    dirs = _find_pair_dirs(root, ["images"], ["masks"])
    if dirs is None:
        raise DatasetNotFoundError(f"no folder under {root} holds both images/ and masks/ (the Kvasir-SEG layout).")
    records = _pair_records(*dirs, {}, "Kvasir-SEG")
    return finish_datalist(
        records,
        _POLYP_CLASSES,
        output,
        name="Kvasir-SEG",
        task="segmentation",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="image (no patient ids in the release)",
        path_keys=("image", "label"),
        channels={"image": [3], "label": [1, 3]},
        metadata=dataset_metadata("kvasir_seg", root),
    )


def build_cvc_clinicdb_datalist(
    dataset_dir: str | os.PathLike,
    *,
    sequence_csv: str | os.PathLike | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """CVC-ClinicDB polyp frame / mask pairs.

    Args:
        dataset_dir: folder with ``Original/`` and ``Ground Truth/`` (or ``GroundTruth/``), at any depth.
        sequence_csv: optional CSV with columns ``frame`` (the file stem, e.g. ``12``) and ``sequence`` (video id)
            to group frames by video.
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for group k-fold.
        output: JSON file to write (optional).

    Raises:
        DatalistValidationError: listing every frame without a mask.
    """
    root = existing_dataset_dir(dataset_dir, "CVC-ClinicDB")
    dirs = _find_pair_dirs(root, ["Original"], ["Ground Truth", "GroundTruth"])
    if dirs is None:
        raise DatasetNotFoundError(
            f"no folder under {root} holds Original/ and 'Ground Truth'/ (the CVC-ClinicDB layout)."
        )
    groups: dict[str, str] = {}
    if sequence_csv is not None:
        groups = {
            r["frame"]: f"sequence-{r['sequence']}" for r in read_csv_rows(Path(sequence_csv), ("frame", "sequence"))
        }
    else:
        logger.warning("CVC-ClinicDB without sequence_csv: frames are split one by one, so one polyp can cross splits.")
    records = _pair_records(*dirs, groups, "CVC-ClinicDB")
    return finish_datalist(
        records,
        _POLYP_CLASSES,
        output,
        name="CVC-ClinicDB",
        task="segmentation",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="video sequence" if groups else "frame",
        path_keys=("image", "label"),
        channels={"image": [3], "label": [1, 3]},
        metadata=dataset_metadata("cvc_clinicdb", root),
    )


def build_decathlon_ct_datalist(
    dataset_dir: str | os.PathLike,
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    folds: int | None = None,
    output: str | os.PathLike | None = None,
    catalogue_name: str = "msd_spleen",
    class_names: Sequence[str] = ("background", "spleen"),
) -> dict[str, Any]:
    """A Medical Segmentation Decathlon CT task: ``imagesTr/*.nii.gz`` with ``labelsTr/*.nii.gz`` of the same names.

    Only the labelled training cases are used (``imagesTs`` has no labels); the macOS ``._*`` files of the MSD
    archives are skipped. One case per patient, so the split groups by case.

    Args:
        dataset_dir: folder with ``imagesTr/`` and ``labelsTr/`` (at any depth, e.g. ``Task09_Spleen/``).
        seed: split seed.
        fractions: training / validation / test fractions.
        folds: ``None`` or k for group k-fold.
        output: JSON file to write (optional).
        catalogue_name: the catalogue entry whose licence and citation go into the datalist.
        class_names: label values in order (0 = background).

    Raises:
        DatasetNotFoundError: no ``imagesTr/`` + ``labelsTr/`` pair below ``dataset_dir``.
        DatalistValidationError: listing every image without a label map.
    """
    root = existing_dataset_dir(dataset_dir, "Medical Segmentation Decathlon task")
    dirs = _find_pair_dirs(root, ["imagesTr"], ["labelsTr"])
    if dirs is None:
        raise DatasetNotFoundError(f"no folder under {root} holds both imagesTr/ and labelsTr/ (the Decathlon layout).")
    records = _pair_records(*dirs, {}, "Decathlon task", suffixes=(".nii.gz", ".nii"))
    return finish_datalist(
        records,
        tuple(class_names),
        output,
        name=root.name,
        task="segmentation",
        seed=seed,
        fractions=fractions,
        folds=folds,
        group_key="case (one CT volume per patient)",
        path_keys=("image", "label"),
        channels={"image": [1], "label": [1]},
        metadata=dataset_metadata(catalogue_name, root),
    )
