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
"""Command line of ``monai_fusion.data`` (``python -m monai_fusion.data`` or ``scripts/prepare_data.py``).

Sub-commands::

    list                         the catalogue: name, automatic download or not, licence
    info NAME                    URLs, checksums, licence, citation, layout of one dataset
    prepare SOURCE [--output F]  fetch (--download) or point at (--dataset-dir) a dataset, build its datalist with a
                                 grouped stratified split (--seed, --fractions, --folds), validate it, write it
                                 (default ~/.cache/monai_fusion/datalists/SOURCE.json, or under $MONAI_FUSION_HOME)
                                 and print the per-class, per-split table and where the file went
    validate DATALIST            check an existing datalist JSON
    table DATALIST               print its per-class, per-split table

``SOURCE`` is a catalogue name, ``imagefolder`` (any class-per-folder tree) or ``dermoscopy_rcm`` (a paired CSV,
given as ``--dataset-dir``). Exit status: 0 on success, 1 when the data is unavailable or invalid, 2 on usage errors.
Written for this project; no code copied.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from monai_fusion.data.catalogue import (
    DATASET_CATALOGUE,
    default_datalist_path,
    default_dataset_root,
    fetch_public_dataset,
)
from monai_fusion.data.datalist import DATALIST_SECTIONS, infer_datalist_task, save_datalist_json
from monai_fusion.data.dermoscopy import build_dermoscopy_rcm_datalist
from monai_fusion.data.errors import DatasetError
from monai_fusion.data.folders import build_imagefolder_datalist
from monai_fusion.data.validate import validate_datalist

__all__ = ["format_split_table", "prepare_data_main"]

_EXTRA_SOURCES = {"imagefolder": build_imagefolder_datalist, "dermoscopy_rcm": build_dermoscopy_rcm_datalist}
# command-line flag -> builder keyword; a flag is passed only to builders that accept it
_BUILDER_FLAGS = (
    "with_masks",
    "pneumonia_subtypes",
    "label_level",
    "magnifications",
    "class_names",
    "group_pattern",
    "sequence_csv",
    "num_rcm",
    "name",
)


def format_split_table(datalist: Mapping[str, Any]) -> str:
    """A plain-text table of the number of items per class (rows) and split (columns).

    With folds, the columns are the k folds of the training part plus ``test``.

    Args:
        datalist: a datalist dict.
    """
    split = datalist.get("split", {})
    if datalist.get("fold_class_counts"):
        columns = {f"fold {k}": v for k, v in datalist["fold_class_counts"].items()}
        columns["test"] = datalist["class_counts"]["test"]
    elif "class_counts" in datalist:
        columns = {s: datalist["class_counts"][s] for s in DATALIST_SECTIONS}
    else:  # a hand-written datalist: count its items
        columns = {s: _count_items(datalist, s) for s in DATALIST_SECTIONS}
    classes = list(dict.fromkeys(c for counts in columns.values() for c in counts)) or ["items"]
    width = max([len("class")] + [len(c) for c in classes])
    cell = max([8] + [len(c) for c in columns])
    header = f"{'class':<{width}}  " + "  ".join(f"{c:>{cell}}" for c in [*columns, "total"])
    if split:
        title = (
            f"{datalist.get('name', 'datalist')}: {split.get('method', '?')} split, seed {split.get('seed')}, "
            f"grouped by {split.get('group_key', '?')}"
        )
    else:
        title = f"{datalist.get('name', 'datalist')}: {infer_datalist_task(datalist)} datalist, no recorded split"
    lines = [title, header, "-" * len(header)]
    for cls in classes:
        counts = [columns[c].get(cls, 0) for c in columns]
        lines.append(f"{cls:<{width}}  " + "  ".join(f"{n:>{cell}}" for n in [*counts, sum(counts)]))
    totals = [sum(columns[c].values()) for c in columns]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{n:>{cell}}" for n in [*totals, sum(totals)]))
    return "\n".join(lines)


def _count_items(datalist: Mapping[str, Any], section: str) -> dict[str, int]:
    """Items of ``section`` per class (classification: by label, named when ``class_names`` says) or in total."""
    items = datalist.get(section, []) or []
    if infer_datalist_task(datalist) == "segmentation":
        return {"items": len(items)}
    names = [str(c) for c in datalist.get("class_names", [])]
    counts: dict[str, int] = dict.fromkeys(names, 0)
    for item in items:
        label = item.get("label")
        key = names[label] if isinstance(label, int) and 0 <= label < len(names) else str(label)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m monai_fusion.data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the catalogued public datasets")
    info = sub.add_parser("info", help="show one catalogue entry")
    info.add_argument("name", choices=sorted(DATASET_CATALOGUE))

    prep = sub.add_parser("prepare", help="fetch or locate a dataset, build, validate and write its datalist")
    prep.add_argument("source", choices=sorted(DATASET_CATALOGUE) + sorted(_EXTRA_SOURCES))
    prep.add_argument(
        "--output",
        help="datalist JSON to write (default: datalists/SOURCE.json under $MONAI_FUSION_HOME, or else under "
        "~/.cache/monai_fusion)",
    )
    prep.add_argument("--dataset-dir", help="the dataset on disk (for dermoscopy_rcm: the CSV file)")
    prep.add_argument("--root", help=f"download root (default {default_dataset_root()})")
    prep.add_argument("--download", action="store_true", help="download the dataset when it is not under --root")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    prep.add_argument("--folds", type=int, help="k-fold cross-validation on the non-test part")
    prep.add_argument("--relative-paths", action="store_true", help="write paths relative to the JSON's folder")
    prep.add_argument("--no-validate", action="store_true", help="skip the validation (not recommended)")
    prep.add_argument("--no-decode", action="store_true", help="validate existence only, without decoding files")
    prep.add_argument("--no-progress", action="store_true")
    prep.add_argument("--with-masks", action="store_true", default=None, help="HAM10000: add lesion masks")
    prep.add_argument("--pneumonia-subtypes", action="store_true", default=None, help="Kermany: bacteria / virus")
    prep.add_argument("--label-level", choices=("binary", "subtype"), help="BreakHis labels")
    prep.add_argument("--magnifications", nargs="+", help="BreakHis: e.g. 40X 100X")
    prep.add_argument("--class-names", nargs="+", help="imagefolder / dermoscopy_rcm: classes in label order")
    prep.add_argument("--group-pattern", help="imagefolder: regex whose first group is the patient / group id")
    prep.add_argument("--sequence-csv", help="CVC-ClinicDB: frame,sequence CSV for a video-grouped split")
    prep.add_argument("--num-rcm", type=int, help="dermoscopy_rcm: RCM slices per case")
    prep.add_argument("--name", help="imagefolder: dataset name")

    val = sub.add_parser("validate", help="check a datalist JSON (all problems at once)")
    val.add_argument("datalist")
    val.add_argument("--base-dir", help="folder for relative paths (default: the JSON's folder)")
    val.add_argument("--no-decode", action="store_true")
    val.add_argument("--no-progress", action="store_true")
    table = sub.add_parser("table", help="print the per-class, per-split table of a datalist JSON")
    table.add_argument("datalist")
    return parser


def _list(out: TextIO) -> None:
    width = max(len(n) for n in DATASET_CATALOGUE)
    for name, info in DATASET_CATALOGUE.items():
        mode = "download" if info.resources else "manual  "
        print(f"{name:<{width}}  {mode}  {info.title}  [{info.licence.split(';')[0]}]", file=out)


def _info(name: str, out: TextIO) -> None:
    info = DATASET_CATALOGUE[name]
    print(
        f"{info.title}\n  homepage: {info.homepage}\n  licence:  {info.licence}\n  cite:     {info.citation}", file=out
    )
    print(f"  layout:   {info.layout}\n  builder:  {info.builder} {info.builder_kwargs or ''}", file=out)
    for res in info.resources:
        checksum = f"{res.hash_type} {res.hash_val}" if res.hash_val else "checksum unknown (not published)"
        print(f"  file:     {res.url}\n            {checksum}", file=out)
    if not info.resources:
        print("  download: manual only", file=out)
    print(f"  by hand:  {info.manual_steps}", file=out)
    if info.notes:
        print(f"  notes:    {info.notes}", file=out)


def _builder_options(builder: Any, args: argparse.Namespace) -> dict[str, Any]:
    accepted = inspect.signature(builder).parameters
    options = {"seed": args.seed, "fractions": tuple(args.fractions), "folds": args.folds}
    for flag in _BUILDER_FLAGS:
        value = getattr(args, flag)
        if value is None:
            continue
        if flag not in accepted:
            raise ValueError(f"--{flag.replace('_', '-')} is not an option for {args.source}.")
        options[flag] = value
    return options


def _prepare(args: argparse.Namespace, out: TextIO) -> int:
    if args.dataset_dir and (args.download or args.root):
        raise ValueError("--dataset-dir points at data on disk; it cannot be combined with --download or --root.")
    if args.source in _EXTRA_SOURCES:
        if not args.dataset_dir:
            raise ValueError(f"{args.source} needs --dataset-dir.")
        builder, dataset_dir = _EXTRA_SOURCES[args.source], Path(args.dataset_dir)
    else:
        info = DATASET_CATALOGUE[args.source]
        builder = info.get_builder()
        if args.dataset_dir:
            dataset_dir = Path(args.dataset_dir)
        else:
            dataset_dir = fetch_public_dataset(info, args.root, download=args.download, progress=not args.no_progress)
    options = _builder_options(builder, args)
    if args.source in DATASET_CATALOGUE:
        options = {**DATASET_CATALOGUE[args.source].builder_kwargs, **options}
    datalist = builder(dataset_dir, **options)
    print(format_split_table(datalist), file=out)
    if not args.no_validate:
        checked = validate_datalist(datalist, decode=not args.no_decode, progress=not args.no_progress)
        print(f"validated {checked} items: no problems", file=out)
    output = Path(args.output).expanduser() if args.output else default_datalist_path(args.source, args.folds)
    # relative paths are computed from the folder as given (not symlink-resolved), the folder that
    # load_decathlon_datalist joins them to
    folder = Path(os.path.abspath(output)).parent
    save_datalist_json(datalist, output, relative_to=folder if args.relative_paths else None)
    print(f"wrote {os.path.abspath(output)}", file=out)
    return 0


def prepare_data_main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line.

    Args:
        argv: arguments without the program name (default ``sys.argv[1:]``).
        out: stream for the report (default ``sys.stdout``); errors go to ``sys.stderr``.

    Returns:
        the exit status (0 success, 1 unavailable or invalid data, 2 usage error).
    """
    out = sys.stdout if out is None else out
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(out)
        elif args.command == "info":
            _info(args.name, out)
        elif args.command == "prepare":
            return _prepare(args, out)
        elif args.command == "validate":
            checked = validate_datalist(
                args.datalist, base_dir=args.base_dir, decode=not args.no_decode, progress=not args.no_progress
            )
            print(f"{args.datalist}: {checked} items, no problems", file=out)
        else:
            print(format_split_table(json.loads(Path(args.datalist).read_text())), file=out)
    except (DatasetError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
