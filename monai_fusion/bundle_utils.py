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
"""Python helpers that the MONAI bundles in ``bundles/`` call from their JSON configs.

Written for the bundle workflows of ../specs/monai_bundles.md (§2.2-§2.5: ``bundle_root``, ``dataset_dir``, run ids;
§5: engines and handlers); no code copied. Everything the four classification bundles would otherwise repeat in JSON
lives here once:

- :func:`locate_bundle_root`: the bundle folder whatever the working directory, so that checkpoints, logs and plots
  never land in the current directory by accident;
- :func:`prepare_datalist`: datalist from ``--datalist`` (a JSON file) or built from ``--dataset_dir`` with the
  dataset catalogue (downloading the default dataset when possible), checked with ``validate_datalist`` *before*
  training starts;
- :func:`class_weights`, :func:`build_train_sampler`: the two class-imbalance remedies;
- :func:`no_decay_param_groups`: AdamW groups without weight decay on 1-D parameters;
- :func:`latest_checkpoint`: the newest resumable checkpoint;
- :func:`list_image_files`: the inputs of ``inference.json`` (images, DICOM or NIfTI files in a folder);
- :func:`classification_transforms`: the preprocessing chains (training augmentation, evaluation, inference);
- :func:`init_distributed`: the process group of ``multi_gpu_train.json`` (NCCL on GPU, gloo on CPU).

Shape conventions: images are channel-first ``(C, H, W)`` after loading (MONAI's readers put the first array axis
of a 2-D file first, i.e. ``(C, W, H)`` for PIL images; the networks do not mind).
"""

from __future__ import annotations

import copy
import glob
import inspect
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from monai.bundle import ConfigWorkflow
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    CopyItemsd,
    EnsureTyped,
    Lambdad,
    NormalizeIntensityd,
    RandFlipd,
    RandRotate90d,
    RandScaleCropd,
    Resized,
)
from monai.utils import ensure_tuple_rep
from torch.utils.data import Sampler, WeightedRandomSampler

from monai_fusion.data import (
    DATASET_CATALOGUE,
    default_dataset_root,
    fetch_public_dataset,
    save_datalist_json,
    select_datalist_fold,
    validate_datalist,
)
from monai_fusion.transforms import EnsureRGBd, LoadMedicalImaged, ShadesOfGrayd, StackRCMSlicesd

__all__ = [
    "IMBALANCE_MODES",
    "as_2d_image",
    "build_train_sampler",
    "class_weights",
    "classification_transforms",
    "default_dataset_dir",
    "init_distributed",
    "is_main_process",
    "latest_checkpoint",
    "list_image_files",
    "locate_bundle_root",
    "no_decay_param_groups",
    "prepare_datalist",
    "to_unit_range",
]

logger = logging.getLogger(__name__)

#: values of the bundles' ``imbalance`` setting.
IMBALANCE_MODES = ("none", "weighted_loss", "weighted_sampler")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".nii", ".nii.gz", ".dcm", ".dicom")
_CHECKPOINT_EPOCH = re.compile(r"=(\d+)\.pt$")


def _looks_like_bundle(folder: Path) -> bool:
    return (folder / "configs" / "metadata.json").is_file()


def locate_bundle_root(name: str) -> str:
    """Absolute path of the bundle folder ``name``, independent of the working directory.

    Search order:

    1. the folder of the config files of the ``ConfigWorkflow`` being run (found on the call stack: the parent of
       its ``configs`` folder), i.e. exactly the bundle given to ``python -m monai.bundle run --config_file``;
    2. the current directory, when it is a bundle folder called ``name``;
    3. ``./bundles/<name>`` (running from the repository root);
    4. ``bundles/<name>`` of the source checkout that holds this package.

    Pass ``--bundle_root DIR`` to override it.

    Args:
        name: the bundle's folder name (e.g. ``"cdfinet"``).

    Raises:
        FileNotFoundError: no candidate holds ``configs/metadata.json``; the message says to pass ``--bundle_root``.
    """
    frame = inspect.currentframe()
    while frame is not None:
        workflow = frame.f_locals.get("self")
        if isinstance(workflow, ConfigWorkflow):
            configs = Path(workflow.config_root_path).resolve()
            root = configs.parent if configs.name == "configs" else configs
            if _looks_like_bundle(root):
                return str(root)
        frame = frame.f_back
    cwd = Path.cwd()
    candidates = [cwd, cwd / "bundles" / name, Path(__file__).resolve().parents[1] / "bundles" / name]
    for i, candidate in enumerate(candidates):
        if (i > 0 or candidate.name == name) and _looks_like_bundle(candidate):
            return str(candidate.resolve())
    raise FileNotFoundError(
        f"cannot find the bundle folder {name!r} (looked at {[str(c) for c in candidates]}); "
        f"pass --bundle_root path/to/{name}."
    )


def default_dataset_dir(dataset: str) -> str:
    """Where the catalogue keeps ``dataset``: ``<default_dataset_root()>/<dataset>`` (may not exist yet).

    Args:
        dataset: catalogue key (``"kvasir_v1"``, ``"ham10000"`` ...).
    """
    if dataset not in DATASET_CATALOGUE:
        raise ValueError(f"dataset must be a catalogue key {sorted(DATASET_CATALOGUE)}, got {dataset!r}.")
    return str(default_dataset_root() / dataset)


def is_main_process() -> bool:
    """True on rank 0 of a process group, and when no group is initialised."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def init_distributed(backend: str | None = None) -> int:
    """Initialise the default process group from the ``torchrun`` environment, once.

    Args:
        backend: ``"nccl"``/``"gloo"``; None picks NCCL when CUDA is available, else gloo.

    Returns:
        the local rank (``LOCAL_RANK``), to select the CUDA device.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return local_rank


def _resolve_paths(datalist: dict[str, Any], base: Path) -> dict[str, Any]:
    keys = list(datalist.get("path_keys", ["image"]))
    for section in ("training", "validation", "test"):
        for item in datalist.get(section, []):
            for key in keys:
                value = item.get(key)
                if isinstance(value, str):
                    item[key] = str((base / value).resolve()) if not os.path.isabs(value) else value
                elif isinstance(value, list):
                    item[key] = [str((base / v).resolve()) if not os.path.isabs(v) else v for v in value]
    return datalist


def _build_from_catalogue(
    dataset: str, dataset_dir: str | None, seed: int, fractions: Sequence[float], download: bool
) -> dict[str, Any]:
    info = DATASET_CATALOGUE[dataset]
    folder = Path(dataset_dir if dataset_dir else default_dataset_dir(dataset)).expanduser()
    if not folder.exists():
        if folder.name != info.name:
            raise FileNotFoundError(
                f"--dataset_dir {folder} does not exist. Give the folder that holds {info.title} "
                f"(layout: {info.layout}), or a folder named {info.name!r} to download it into."
            )
        folder = fetch_public_dataset(info, root=folder.parent, download=download)
    return info.build(folder, seed=seed, fractions=tuple(fractions))


def prepare_datalist(
    dataset: str,
    dataset_dir: str | None = None,
    datalist: str | Mapping[str, Any] | None = None,
    output_dir: str | None = None,
    *,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    fold: int | None = None,
    download: bool = True,
    validate: bool = True,
    sections: Sequence[str] = ("training", "validation"),
) -> dict[str, Any]:
    """The datalist of a bundle run, checked before any training starts.

    * ``datalist`` given: that JSON file (relative paths are resolved against its folder, as
      ``load_decathlon_datalist`` does), or a datalist dict already built (e.g. by
      ``build_dermoscopy_rcm_datalist`` in ``train_rcm.json``).
    * otherwise the catalogue builder of ``dataset`` runs on ``dataset_dir`` (default
      :func:`default_dataset_dir`). A missing folder named after the dataset is downloaded through
      ``fetch_public_dataset`` when the catalogue can (``download=True``); otherwise this stops at once with the
      catalogue's "where to get it" message (``PublicDatasetUnavailableError``).

    A datalist that was built (not read from a file) is saved to ``<output_dir>/datalist.json`` (rank 0), so that the
    run can be repeated, or evaluated, on the same split with ``--datalist``.

    With ``validate``, ``validate_datalist`` decodes every file of ``sections`` and raises one
    ``DatalistValidationError`` listing every bad file. Under ``torchrun`` rank 0 prepares first (downloads happen
    once) while the other ranks wait at a barrier.

    Args:
        dataset: catalogue key of the default dataset (used when ``datalist`` is not given).
        dataset_dir: dataset folder; None means the catalogue's default location.
        datalist: a datalist JSON file or dict; takes precedence over ``dataset_dir``.
        output_dir: where the built datalist is saved; None saves nothing.
        class_names: the bundle's classes in label order (its network's ``out_channels``); a datalist whose classes
            differ is an error (labels would be misread).
        seed: split seed of the builder.
        fractions: training / validation / test fractions of the builder.
        fold: cross-validation fold to select (datalists built with ``folds=k``); None keeps the sections.
        download: allow downloading a missing default dataset.
        validate: run ``validate_datalist`` on ``sections``.
        sections: the sections that must be non-empty and are validated.

    Returns:
        the datalist dict, with absolute paths.

    Raises:
        PublicDatasetUnavailableError: the default dataset is absent and cannot be downloaded.
        DatalistValidationError: files are missing, corrupt, or leak between splits.
        ValueError: a section is empty or the datalist's classes differ from ``class_names``.
    """
    distributed = dist.is_available() and dist.is_initialized()
    if distributed and not is_main_process():
        dist.barrier()
    try:
        if isinstance(datalist, Mapping):
            result = copy.deepcopy(dict(datalist))
        elif datalist:
            path = Path(datalist).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"--datalist {path} does not exist.")
            result = _resolve_paths(json.loads(path.read_text()), path.parent)
        else:
            if dataset not in DATASET_CATALOGUE:
                raise ValueError(f"dataset must be a catalogue key {sorted(DATASET_CATALOGUE)}, got {dataset!r}.")
            result = _build_from_catalogue(dataset, dataset_dir, seed, fractions, download)
        if output_dir and is_main_process() and not isinstance(datalist, str | os.PathLike):
            save_datalist_json(result, Path(output_dir) / "datalist.json")
    finally:
        if distributed and is_main_process():
            dist.barrier()
    if fold is not None:
        result = select_datalist_fold(result, fold)
    found = [str(c) for c in result.get("class_names", [])]
    if class_names is not None and found != [str(c) for c in class_names]:
        raise ValueError(
            f"the datalist's classes {found} differ from the bundle's class_names {list(class_names)}; pass "
            "--class_names with the datalist's classes in label order (the network is built with that many outputs)."
        )
    empty = [s for s in sections if not result.get(s)]
    if empty:
        raise ValueError(f"the datalist has no items in {empty}; rebuild it with non-zero fractions for them.")
    if validate:
        validate_datalist(result, sections=tuple(sections), progress=is_main_process())
    return result


def _class_counts(datalist: Mapping[str, Any], section: str) -> np.ndarray:
    n_classes = int(datalist.get("num_classes", len(datalist.get("class_names", []))))
    labels = [int(item["label"]) for item in datalist.get(section, [])]
    return np.bincount(labels, minlength=n_classes).astype(np.float64)


def class_weights(datalist: Mapping[str, Any], section: str = "training") -> torch.Tensor:
    """Inverse-frequency class weights ``n / (K * n_c)`` from the class counts of ``section``.

    A balanced set gets all ones; a class absent from ``section`` gets weight 0 (it never appears as a target).

    Args:
        datalist: a classification datalist.
        section: the section whose labels are counted.

    Returns:
        float32 tensor (K,), for ``torch.nn.CrossEntropyLoss(weight=...)``.
    """
    counts = _class_counts(datalist, section)
    if counts.sum() == 0:
        raise ValueError(f"the datalist section {section!r} has no labelled items to compute class weights from.")
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.as_tensor(weights, dtype=torch.float32)


def build_train_sampler(
    datalist: Mapping[str, Any],
    imbalance: str = "none",
    *,
    dataset: torch.utils.data.Dataset | None = None,
    distributed: bool = False,
    seed: int = 0,
) -> Sampler | None:
    """The training sampler for the ``imbalance`` mode.

    * ``"weighted_sampler"``: ``WeightedRandomSampler`` drawing ``len(training)`` items with replacement, each with
      probability proportional to ``1 / n_class`` (classes are seen equally often); single process only.
    * otherwise: ``monai.data.DistributedSampler(dataset, shuffle=True)`` when ``distributed``, else None (the data
      loader shuffles).

    Args:
        datalist: a classification datalist.
        imbalance: one of :data:`IMBALANCE_MODES`.
        dataset: the training dataset (needed when ``distributed``).
        distributed: whether the run is under ``torchrun``.
        seed: seed of the weighted sampler's generator.
    """
    if imbalance not in IMBALANCE_MODES:
        raise ValueError(f"imbalance must be one of {IMBALANCE_MODES}, got {imbalance!r}.")
    if imbalance == "weighted_sampler":
        if distributed:
            raise ValueError(
                "imbalance='weighted_sampler' is single-process only; use imbalance='weighted_loss' with "
                "multi_gpu_train.json."
            )
        counts = _class_counts(datalist, "training")
        labels = [int(item["label"]) for item in datalist["training"]]
        weights = [1.0 / counts[label] for label in labels]
        generator = torch.Generator().manual_seed(seed)
        return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=generator)
    if distributed:
        if dataset is None:
            raise ValueError("dataset is required to build a DistributedSampler.")
        from monai.data import DistributedSampler

        return DistributedSampler(dataset, shuffle=True, even_divisible=True)
    return None


def no_decay_param_groups(network: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: 1-D parameters (norm weights, biases, per-channel scales) get no weight decay.

    Args:
        network: the model (a DDP wrapper is fine).
        weight_decay: decay of the other parameters.
    """
    decay, no_decay = [], []
    for param in network.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def latest_checkpoint(ckpt_dir: str, prefix: str = "checkpoint") -> str:
    """The resumable checkpoint with the highest epoch, ``<ckpt_dir>/<prefix>_epoch=N.pt``.

    Args:
        ckpt_dir: the folder ``CheckpointSaver`` writes to.
        prefix: the saver's ``file_prefix``.

    Raises:
        FileNotFoundError: there is none (``--resume true`` without a previous run).
    """
    found = []
    for path in glob.glob(os.path.join(glob.escape(ckpt_dir), f"{prefix}_*.pt")):
        match = _CHECKPOINT_EPOCH.search(path)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        raise FileNotFoundError(
            f"--resume true but no checkpoint {prefix}_*=N.pt in {ckpt_dir}; train once without --resume first."
        )
    return max(found)[1]


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def list_image_files(folder: str) -> list[dict[str, str]]:
    """Datalist items ``{"image": path}`` for every image file below ``folder`` (recursively, sorted).

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
        {"image": str(p.resolve())}
        for p in files
        if not p.name.startswith(".") and (p.name.lower().endswith(_IMAGE_SUFFIXES) or _is_dicom(p))
    ]
    if not items:
        raise FileNotFoundError(f"no image, DICOM or NIfTI file found in {root}.")
    return items


def as_2d_image(img: torch.Tensor) -> torch.Tensor:
    """Reduce a channel-first image to ``(C, H, W)``: drop singleton trailing spatial axes (2-D DICOM / NIfTI read
    as ``(C, H, W, 1)``); of a real volume ``(C, H, W, D)`` keep the middle slice (logged).

    Args:
        img: channel-first image with 2 or 3 spatial dims.
    """
    while img.ndim > 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 4:
        logger.info("3-D input of shape %s: classifying its middle slice", tuple(img.shape))
        img = img[..., img.shape[-1] // 2]
    if img.ndim != 3:
        raise ValueError(f"expected a 2-D image or a volume, got a channel-first array of shape {tuple(img.shape)}.")
    return img


def to_unit_range(img: torch.Tensor) -> torch.Tensor:
    """Scale intensities to [0, 1]: 8-bit data (values within [0, 255]) is divided by 255, as torchvision's
    ``ToTensor`` does; anything else (HU, 16-bit) is min-max scaled per image.

    Args:
        img: image of any shape.
    """
    img = img.float()
    lo, hi = float(img.min()), float(img.max())
    if lo >= 0.0 and hi <= 255.0:
        return img / 255.0
    return (img - lo) / max(hi - lo, 1e-8)


def classification_transforms(
    image_size: int | Sequence[int],
    *,
    mode: str = "eval",
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
    colour_constancy: bool = False,
    min_crop_scale: float = 0.08,
    eval_resize_ratio: float = 1.0,
    rcm_slices: int | None = None,
) -> Compose:
    """The preprocessing chain of the classification bundles (MONAI dictionary transforms on ``image``).

    Common start: ``CopyItemsd`` (the file name is kept as ``image_path``, for prediction tables and plots) ->
    ``LoadMedicalImaged`` (channel first) -> :func:`as_2d_image` -> ``EnsureRGBd`` (gray -> 3
    channels, alpha dropped) -> optional ``ShadesOfGrayd`` (p = 6 colour constancy, dermoscopy) ->
    :func:`to_unit_range`. Then:

    * ``"train"``: ``RandScaleCropd`` (random-size crop of ``sqrt(min_crop_scale)``-1 of each side, so its area is
      at least ``min_crop_scale``; the MONAI counterpart of torchvision's ``RandomResizedCrop``) -> ``Resized`` ->
      horizontal and vertical ``RandFlipd`` -> ``RandRotate90d``;
    * ``"eval"`` / ``"infer"``: ``Resized`` to ``eval_resize_ratio * image_size`` -> ``CenterSpatialCropd``
      (ratio 8/7 reproduces "Resize(256) + CenterCrop(224)").

    and finally ``NormalizeIntensityd(mean, std, channel_wise=True)`` and ``EnsureTyped(track_meta=False)``: the
    networks get plain tensors (the metadata is not needed after loading, and plain tensors keep every network op on
    the fast path). ``"infer"`` needs no ``label``.

    With ``rcm_slices=N`` the items also carry ``rcm`` (N slice files), stacked by ``StackRCMSlicesd`` into
    ``(N, 3, H, W)`` with the same per-slice loading, scaling, resizing and normalisation (no random augmentation:
    the two modalities come from different devices and are not pixel-aligned).

    Args:
        image_size: network input size (int or (H, W)), divisible by 32 for the bundled networks.
        mode: ``"train"``, ``"eval"`` or ``"infer"``.
        mean: per-channel mean subtracted after scaling to [0, 1].
        std: per-channel divisor.
        colour_constancy: apply Shades of Gray colour constancy.
        min_crop_scale: smallest crop area fraction of the training crop, in (0, 1].
        eval_resize_ratio: resize factor before the centre crop in evaluation, >= 1.
        rcm_slices: N slices of the optional RCM stack; None for single-modality items.
    """
    if mode not in ("train", "eval", "infer"):
        raise ValueError(f"mode must be 'train', 'eval' or 'infer', got {mode!r}.")
    if not 0.0 < min_crop_scale <= 1.0:
        raise ValueError(f"min_crop_scale must lie in (0, 1], got {min_crop_scale}.")
    if eval_resize_ratio < 1.0:
        raise ValueError(f"eval_resize_ratio must be >= 1 (resize, then centre-crop), got {eval_resize_ratio}.")
    size = ensure_tuple_rep(image_size, 2)
    key = "image"
    steps: list = [
        CopyItemsd(keys=key, names="image_path"),
        LoadMedicalImaged(keys=key, ensure_channel_first=True, image_only=True),
        Lambdad(keys=key, func=as_2d_image),
        EnsureRGBd(keys=key),
    ]
    if colour_constancy:
        steps.append(ShadesOfGrayd(keys=key))
    steps.append(Lambdad(keys=key, func=to_unit_range))
    if mode == "train":
        side = float(np.sqrt(min_crop_scale))
        steps += [
            RandScaleCropd(keys=key, roi_scale=side, max_roi_scale=1.0, random_size=True),
            Resized(keys=key, spatial_size=size),
            RandFlipd(keys=key, prob=0.5, spatial_axis=0),
            RandFlipd(keys=key, prob=0.5, spatial_axis=1),
            RandRotate90d(keys=key, prob=0.5),
        ]
    else:
        steps += [
            Resized(keys=key, spatial_size=[int(round(s * eval_resize_ratio)) for s in size]),
            CenterSpatialCropd(keys=key, roi_size=size),
        ]
    steps.append(NormalizeIntensityd(keys=key, subtrahend=list(mean), divisor=list(std), channel_wise=True))
    if rcm_slices is not None:
        slice_steps = Compose(
            [
                EnsureRGBd(keys="s"),
                Lambdad(keys="s", func=to_unit_range),
                Resized(keys="s", spatial_size=size),
                NormalizeIntensityd(keys="s", subtrahend=list(mean), divisor=list(std), channel_wise=True),
            ]
        )
        steps.append(StackRCMSlicesd(keys="rcm", num_slices=rcm_slices, slice_transform=_SliceAdapter(slice_steps)))
    steps.append(EnsureTyped(keys=[key, "rcm"], dtype=torch.float32, track_meta=False, allow_missing_keys=True))
    return Compose(steps)


class _SliceAdapter:
    """Apply a dictionary chain (key ``"s"``) to one channel-first RCM slice (picklable for worker processes)."""

    def __init__(self, chain: Compose) -> None:
        self.chain = chain

    def __call__(self, img: Any) -> Any:
        return self.chain({"s": img})["s"]
