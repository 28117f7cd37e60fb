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
"""Bundle plumbing: the few Python calls that the MONAI bundles in ``bundles/`` make from their JSON configs.

The bundles' preprocessing, losses, handlers and engines are spelled out in their JSON files; what stays in Python is
only what JSON cannot express (see ``docs/bundles.md``):

- :func:`locate_bundle_root`: the bundle folder whatever the working directory, so that checkpoints, logs and plots
  never land in the current directory by accident;
- :func:`prepare_datalist`: datalist from ``--datalist`` (a JSON file) or built from ``--dataset_dir`` with the
  dataset catalogue (downloading the default dataset when possible), optionally cut to a quick-trial subset, and
  checked with ``validate_datalist`` *before* training starts;
- :func:`no_decay_param_groups`: AdamW groups without weight decay on 1-D parameters;
- :func:`latest_checkpoint`: the newest resumable checkpoint;
- :func:`physical_cpu_count`: the default of the bundles' ``num_threads`` key (``torch.set_num_threads``);
- :func:`init_distributed`, :func:`is_main_process`: the process group of ``multi_gpu_train.json`` (NCCL on GPU,
  gloo on CPU).

Re-exported for the configs: the training record (:mod:`monai_fusion.bundle_record`: what a run built, written next
to its weights and read back by evaluation, inference, export and MONAI Label) and :func:`list_image_files` (the
inputs of ``inference.json``, :mod:`monai_fusion.data.inputs`). Class weights and samplers live in
:mod:`monai_fusion.data.sampling`, the transforms in :mod:`monai_fusion.transforms`.
"""

from __future__ import annotations

import copy
import glob
import inspect
import logging
import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from monai.bundle import ConfigWorkflow

from monai_fusion.bundle_record import (
    TRAINING_RECORD,
    apply_training_record,
    load_training_record,
    recorded_network,
    save_training_record,
)
from monai_fusion.data import (
    DATASET_CATALOGUE,
    DatasetNotFoundError,
    InvalidDatasetError,
    build_imagefolder_datalist,
    default_dataset_root,
    exit_on_data_error,
    fetch_public_dataset,
    infer_datalist_task,
    list_image_files,
    load_datalist_json,
    save_datalist_json,
    select_datalist_fold,
    validate_datalist,
)

__all__ = [
    "TRAINING_RECORD",
    "apply_training_record",
    "default_dataset_dir",
    "init_distributed",
    "is_main_process",
    "latest_checkpoint",
    "limit_items",
    "list_image_files",
    "load_training_record",
    "locate_bundle_root",
    "no_decay_param_groups",
    "physical_cpu_count",
    "bundle_datalist",
    "prepare_datalist",
    "recorded_network",
    "save_training_record",
]

logger = logging.getLogger(__name__)

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


def physical_cpu_count(cpuinfo: str = "/proc/cpuinfo") -> int:
    """Number of physical cores this process may run on: the default of the bundles' ``num_threads`` key.

    PyTorch's intra-op pool defaults to one thread per core of the whole machine; on a shared or hyper-threaded
    machine that oversubscribes the cores this process is allowed to use, and a run under load was measured several
    times slower than with one thread (``docs/bundles.md``). This counts the distinct ``(physical id, core id)``
    pairs of ``/proc/cpuinfo`` among the logical CPUs of ``os.sched_getaffinity(0)``, so hyper-threads of one core
    and CPUs outside the affinity mask (``taskset``, containers) are not counted. Where that information is missing
    (not Linux, no core ids) it falls back to the number of usable logical CPUs, then to ``os.cpu_count()``.

    Args:
        cpuinfo: the ``/proc/cpuinfo`` file to read (a parameter for tests).

    Returns:
        at least 1.
    """
    try:
        allowed: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = None
    cores: set[tuple[str, str]] = set()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        text = ""
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" not in fields or "core id" not in fields:
            continue
        try:
            processor = int(fields["processor"])
        except ValueError:
            continue
        if allowed is None or processor in allowed:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    if cores:
        return len(cores)
    if allowed:
        return len(allowed)
    return max(1, os.cpu_count() or 1)


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


def _build_from_catalogue(
    dataset: str, dataset_dir: str | None, seed: int, fractions: Sequence[float], download: bool
) -> dict[str, Any]:
    info = DATASET_CATALOGUE[dataset]
    folder = Path(dataset_dir if dataset_dir else default_dataset_dir(dataset)).expanduser()
    if not folder.exists():
        if folder.name != info.name:
            raise DatasetNotFoundError(
                f"--dataset_dir {folder} does not exist. Give the folder that holds {info.title} "
                f"(layout: {info.layout}), or a folder named {info.name!r} to download it into."
            )
        folder = fetch_public_dataset(info, root=folder.parent, download=download)
    return info.build(folder, seed=seed, fractions=tuple(fractions))


def _is_class_folder_dataset(dataset_dir: str | None, class_names: Sequence[str] | None) -> bool:
    """Whether ``dataset_dir`` has a sub-folder for every class name (a generic class-folder dataset)."""
    if not dataset_dir or not class_names:
        return False
    root = Path(str(dataset_dir)).expanduser()
    return all((root / str(name)).is_dir() for name in class_names)


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
    max_items: Mapping[str, int | None] | None = None,
    max_items_seed: int = 0,
    group_pattern: str | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """The datalist of a bundle run, checked before any training starts.

    * ``datalist`` given: that JSON file (relative paths are resolved against its folder, as
      ``load_decathlon_datalist`` does), or a datalist dict already built (e.g. by
      ``build_dermoscopy_rcm_datalist`` in ``train_rcm.json``).
    * ``dataset_dir`` holding one sub-folder per entry of ``class_names`` (any class-folder dataset, e.g.
      ``NORMAL/`` and ``PNEUMONIA/``): an ImageFolder datalist (``build_imagefolder_datalist``), labels in the order
      of ``class_names``, grouped by ``group_pattern`` so that one patient's images stay in one split;
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
        max_items: a quick trial: at most this many items per section (``{"training": 64, "validation": 32}``;
            None or a missing section keeps everything), drawn by :func:`limit_items`. Only the kept items are
            validated.
        max_items_seed: seed of that draw.
        group_pattern: for a class-folder dataset, a regular expression whose first group in a file name is the
            patient / lesion id (None: every image is its own group).

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
            result = load_datalist_json(datalist, task=task)
        elif _is_class_folder_dataset(dataset_dir, class_names):
            result = build_imagefolder_datalist(
                Path(str(dataset_dir)).expanduser(),
                class_names=list(class_names or []),
                group_pattern=group_pattern,
                name=Path(str(dataset_dir)).name,
                seed=seed,
                fractions=tuple(fractions),
            )
        else:
            if dataset not in DATASET_CATALOGUE:
                raise InvalidDatasetError(
                    f"dataset must be a catalogue key {sorted(DATASET_CATALOGUE)}, got {dataset!r}."
                )
            result = _build_from_catalogue(dataset, dataset_dir, seed, fractions, download)
        if output_dir and is_main_process() and not isinstance(datalist, str | os.PathLike):
            save_datalist_json(result, Path(output_dir) / "datalist.json")
    finally:
        if distributed and is_main_process():
            dist.barrier()
    if fold is not None:
        result = select_datalist_fold(result, fold)
    task = task or infer_datalist_task(result)
    found = [str(c) for c in result.get("class_names", [])]
    if task == "classification" and class_names is not None and found and found != [str(c) for c in class_names]:
        raise InvalidDatasetError(
            f"the datalist's classes {found} differ from the bundle's class_names {list(class_names)}; pass "
            "--class_names with the datalist's classes in label order (the network is built with that many outputs)."
        )
    for section, limit in (max_items or {}).items():
        if limit is not None and section in result:
            result[section] = limit_items(result[section], int(limit), seed=max_items_seed)
    empty = [s for s in sections if not result.get(s)]
    if empty:
        raise InvalidDatasetError(f"the datalist has no items in {empty}; rebuild it with non-zero fractions for them.")
    if validate:
        names = class_names if task == "classification" and not found else None
        validate_datalist(result, sections=tuple(sections), progress=is_main_process(), task=task, class_names=names)
    return result


#: what the bundles' JSON calls: :func:`prepare_datalist`, whose data errors end the run with just the fix
#: (``monai_fusion.data.exit_on_data_error``); Python callers use :func:`prepare_datalist` and get the exceptions.
bundle_datalist = exit_on_data_error(prepare_datalist)


def limit_items(items: Sequence[Mapping[str, Any]], limit: int, seed: int = 0) -> list[dict[str, Any]]:
    """A reproducible subset of at most ``limit`` datalist items, for a quick trial run.

    Items with a class label are drawn round-robin over the classes (each class shuffled with ``seed``), so a small
    subset still holds every class; other items (segmentation) are a seeded random sample. The order of the
    original list is kept.

    Args:
        items: the items of one datalist section.
        limit: the number of items to keep, >= 1.
        seed: seed of the draw.
    """
    if limit < 1:
        raise ValueError(f"max_train_items / max_val_items must be >= 1 (or null for all items), got {limit}.")
    if len(items) <= limit:
        return [dict(item) for item in items]
    rng = random.Random(seed)
    labels = [item.get("label") for item in items]
    if all(isinstance(label, int) for label in labels):
        by_class: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            by_class.setdefault(label, []).append(i)
        queues = [rng.sample(ids, len(ids)) for _, ids in sorted(by_class.items())]
        chosen: list[int] = []
        while len(chosen) < limit:
            for queue in queues:
                if queue and len(chosen) < limit:
                    chosen.append(queue.pop())
    else:
        chosen = rng.sample(range(len(items)), limit)
    return [dict(items[i]) for i in sorted(chosen)]


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
