# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Run the MONAI model-zoo checks on the bundles of this repository and print a table (bundle x check).

Our own implementation of the checks the model zoo's CI runs (the zoo's ``ci/verify_bundle.py`` and its code-format
checks), offline:

* ``files``: the zoo's necessary files (``configs/metadata.json``, ``LICENSE``) and our required ones
  (``configs/inference.json``, ``docs/README.md``, ``large_files.yml``).
* ``weights``: ``models/model.pt`` is a zoo *preferred* file. No bundle ships weights (they go through
  ``large_files.yml`` once published), so a file git does not track is reported as ``not shipped`` (a note, not a
  pass), even when a local training run left one, and ``large_files.yml`` is checked instead (a ``large_files`` list
  whose entries have ``path`` and ``url``). Outside a git work tree, a ``models/model.pt`` on disk counts as shipped.
* ``version``: semantic version, present in ``changelog``, and the newest changelog entry (which must also be the
  first, the zoo convention) equals it.
* ``metadata``: ``monai.bundle.verify_metadata`` against the offline schema file (never downloaded).
* ``pins``: the version pins the zoo CI installs verbatim (``name==version`` on CPython 3.10): plain versions, no
  release known to lack CPython 3.10 wheels, and ``monai-fusion`` equal to the package being verified.
* ``net_in_out``: ``monai.bundle.verify_net_in_out network_def`` on ``configs/inference.json``.
* ``torchscript``: ``monai.bundle.ckpt_export`` (traced) of a checkpoint of the network with **fresh random weights**
  written to a temporary folder (no weights ship), reloaded with ``torch.jit.load``; outputs must equal PyTorch's.
* ``json``: every JSON file is what pre-commit's ``pretty-format-json --no-sort-keys --indent=4`` would write.
* ``size``: no file of the bundle over 1 MiB (pre-commit ``check-added-large-files --maxkb=1024``); the row
  ``(repository)`` applies the same limit to every file git tracks.

Every check runs on a temporary copy of the files git tracks in the bundle (all its files outside a git work tree),
and the ``(repository)`` row looks at tracked files only, so what an earlier run left in the checkout (a datalist in
the repository root, ``eval/`` outputs, a trained ``models/model.pt`` and its training record) changes no result.

Usage::

    python scripts/verify_bundles.py                       # every bundle under bundles/
    python scripts/verify_bundles.py --bundles cdfinet hifuse --image-size 64
    python scripts/verify_bundles.py --schema /path/to/meta_schema_20240725.json
    python scripts/verify_bundles.py --bundles-dir /tmp/checkout/bundles --repo-root /tmp/checkout

Exit status: 0 when no check fails, 1 when one does, 2 for bad arguments (e.g. the schema file is missing).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMA = REPO_ROOT.parent / "shared" / "monai" / "meta_schema_20240725.json"
CHECKS = ("files", "weights", "version", "metadata", "pins", "net_in_out", "torchscript", "json", "size")
REQUIRED_FILES = ("configs/metadata.json", "LICENSE", "configs/inference.json", "docs/README.md", "large_files.yml")
MAX_FILE_BYTES = 1024 * 1024
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
PLAIN_VERSION = re.compile(r"^\d+(\.\d+)*$")
#: first release of each package without CPython 3.10 wheels (the zoo's premerge CI runs Python 3.10):
#: numpy 2.3 (NEP 29 / SPEC 0 drop), pillow 13, matplotlib 3.11 (pip index versions --python-version 3.10).
NO_PY310_FROM = {"numpy": (2, 3), "pillow": (13,), "matplotlib": (3, 11)}
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
#: --fast: network_def overrides by network (last part of ``_target_``) that keep each architecture but shrink its
#: widths, so net_in_out and the TorchScript export take seconds on a CPU (MFSF2-Net's timm backbones stay real size)
_NARROW = {"channels": [16, 32, 64, 128], "depths": [1, 1, 1, 1]}
FAST_OVERRIDES = {
    "CDFINet": {**_NARROW, "d_state": 4, "stem_channels": 8, "mvba_heads": 2, "fsda_heads": 4},
    "MedMamba": {**_NARROW, "d_state": 4},
    "HiFuse": {**_NARROW, "num_heads": [1, 2, 2, 4], "hff_reduction": 4},
    "MFSF2Net": {"fuse_channels": 16},
    "MFSF2NetSeg": {"fuse_channels": 16, "decoder_channels": 8},
}
FAST_IMAGE_SIZE = 64


class Result:
    """One cell of the table: ``status`` is PASS, FAIL or NOTE (informative, not a failure)."""

    def __init__(self, status: str, detail: str = "") -> None:
        self.status, self.detail = status, detail


def _pass(detail: str = "") -> Result:
    return Result("PASS", detail)


def _fail(detail: str) -> Result:
    return Result("FAIL", detail)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _read_metadata(root: Path) -> dict:
    return json.loads((root / "configs" / "metadata.json").read_text(encoding="utf-8"))


def check_files(root: Path, **_: object) -> Result:
    missing = [f for f in REQUIRED_FILES if not (root / f).is_file()]
    return _fail(f"missing {', '.join(missing)}") if missing else _pass(f"{len(REQUIRED_FILES)} required files")


def check_weights(root: Path, source: Path | None = None, **_: object) -> Result:
    import yaml

    listing = root / "large_files.yml"
    if not listing.is_file():
        return _fail("large_files.yml missing: weights can be neither shipped nor downloaded")
    try:
        entries = (yaml.safe_load(listing.read_text(encoding="utf-8")) or {}).get("large_files")
    except yaml.YAMLError as e:
        return _fail(f"large_files.yml is not valid YAML ({e})")
    if not isinstance(entries, list):
        return _fail("large_files.yml needs a top-level 'large_files' list (empty until weights are published)")
    bad = [e for e in entries if not isinstance(e, dict) or not {"path", "url"} <= set(e)]
    if bad:
        return _fail(f"large_files.yml entries without 'path' and 'url': {bad}")
    listed = [e["path"] for e in entries]
    if (root / "models" / "model.pt").is_file():
        return _pass("models/model.pt shipped with the bundle")
    left = source is not None and source != root and (source / "models" / "model.pt").is_file()
    local = " (a local, untracked models/model.pt is not counted)" if left else ""
    if "models/model.pt" in listed:
        return Result("NOTE", f"models/model.pt not shipped: downloaded through large_files.yml{local}")
    return Result("NOTE", f"models/model.pt not shipped (large_files.yml lists no weights yet){local}")


def check_version(root: Path, **_: object) -> Result:
    meta = _read_metadata(root)
    version, changelog = meta.get("version"), meta.get("changelog")
    if not isinstance(version, str) or not SEMVER.match(version):
        return _fail(f"version {version!r} is not MAJOR.MINOR.PATCH")
    if not isinstance(changelog, dict) or not changelog:
        return _fail("changelog missing or empty")
    if version not in changelog:
        return _fail(f"version {version} has no changelog entry")
    not_semver = [k for k in changelog if not SEMVER.match(k)]
    if not_semver:
        return _fail(f"changelog keys that are not MAJOR.MINOR.PATCH: {not_semver}")
    newest = max(changelog, key=_version_tuple)
    if newest != version:
        return _fail(f"newest changelog entry is {newest}, version is {version}")
    if next(iter(changelog)) != version:
        return _fail(f"the first changelog entry must be the newest ({version})")
    return _pass(f"{version}")


def check_metadata(root: Path, schema: Path, **_: object) -> Result:
    from monai.bundle import verify_metadata

    meta = _read_metadata(root)
    url = meta.get("schema", "")
    if Path(url).name != schema.name:
        return _fail(f"metadata names schema {Path(url).name!r}, validated file is {schema.name!r}")
    with tempfile.TemporaryDirectory() as tmp:  # verify_metadata only reads an existing filepath, never downloads
        copy = Path(tmp) / schema.name
        copy.write_bytes(schema.read_bytes())
        verify_metadata(meta_file=str(root / "configs" / "metadata.json"), filepath=str(copy))
    return _pass(schema.name)


def check_pins(root: Path, **_: object) -> Result:
    import monai_fusion

    meta = _read_metadata(root)
    pins = {"monai": meta.get("monai_version"), "torch": meta.get("pytorch_version")}
    pins["numpy"] = meta.get("numpy_version")
    pins.update(meta.get("required_packages_version", {}))
    problems = []
    for name, version in pins.items():
        if not isinstance(version, str) or not PLAIN_VERSION.match(version):
            problems.append(f"{name}=={version!r} is not a plain release version")
            continue
        limit = NO_PY310_FROM.get(name.lower())
        if limit is not None and _version_tuple(version)[: len(limit)] >= limit:
            problems.append(f"{name}=={version} has no CPython 3.10 wheel (zoo CI Python)")
    if pins.get("monai-fusion") != monai_fusion.__version__:
        problems.append(f"monai-fusion pin {pins.get('monai-fusion')!r} != package version {monai_fusion.__version__}")
    if problems:
        return _fail("; ".join(problems))
    return _pass("monai-fusion is not on PyPI: installed from source, see the model card")


def _fast_overrides(root: Path) -> dict:
    """``network_def#...`` overrides that shrink the bundle's network (``--fast``)."""
    spec = json.loads((root / "configs" / "inference.json").read_text(encoding="utf-8"))["network_def"]
    while isinstance(spec.get("default"), dict) and "_target_" in spec["default"]:
        spec = spec["default"]  # a wrapper such as bundle_utils.recorded_network passes its kwargs to the default
    target = spec["_target_"]
    family = target.rsplit(".", 1)[-1]
    family = {"medmamba": "MedMamba", "hifuse": "HiFuse"}.get(family.split("_")[0], family)
    if family not in FAST_OVERRIDES:
        raise ValueError(f"--fast has no shrinking overrides for network {target!r}; run without --fast")
    return {f"network_def#{k}": v for k, v in FAST_OVERRIDES[family].items()}


def _input_shape(root: Path, image_size: int | None) -> list[int]:
    image = _read_metadata(root)["network_data_format"]["inputs"]["image"]
    spatial = [image_size] * len(image["spatial_shape"]) if image_size else image["spatial_shape"]
    if not all(isinstance(s, int) for s in spatial):
        raise ValueError(f"spatial_shape {spatial} is not all integers: pass --image-size")
    return [1, image["num_channels"], *spatial]


def check_net_in_out(root: Path, image_size: int | None, fast: bool = False, **_: object) -> Result:
    from monai.bundle import verify_net_in_out

    override = _fast_overrides(root) if fast else {}
    if image_size:
        override["_meta_#network_data_format#inputs#image#spatial_shape"] = _input_shape(root, image_size)[2:]
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(root / "configs" / "metadata.json"),
        config_file=str(root / "configs" / "inference.json"),
        device="cpu",
        **override,
    )
    return _pass(f"input {_input_shape(root, image_size)}" + (", --fast network" if fast else ""))


def check_torchscript(root: Path, image_size: int | None, fast: bool = False, **_: object) -> Result:
    import torch
    from monai.bundle import ConfigParser, ckpt_export

    config, meta = root / "configs" / "inference.json", root / "configs" / "metadata.json"
    parser = ConfigParser()
    parser.read_config(str(config))
    override = _fast_overrides(root) if fast else {}
    parser.update(override)
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def").eval()
    shape = _input_shape(root, image_size)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, exported = Path(tmp) / "model.pt", Path(tmp) / "model.ts"
        torch.save(net.state_dict(), ckpt)  # fresh weights: the bundles ship none (large_files.yml)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings
            ckpt_export(
                net_id="network_def",
                filepath=str(exported),
                ckpt_file=str(ckpt),
                meta_file=str(meta),
                config_file=str(config),
                use_trace=True,
                input_shape=shape,
                **override,
            )
            extra = {"metadata.json": ""}
            scripted = torch.jit.load(str(exported), _extra_files=extra)
        if json.loads(extra["metadata.json"]).get("version") != _read_metadata(root)["version"]:
            return _fail("the exported file does not embed the bundle's metadata.json")
        x = torch.randn(shape)
        with torch.no_grad():
            expected, actual = net(x), scripted(x)
    torch.testing.assert_close(actual, expected, **TOLERANCE)
    diff = float((actual - expected).abs().max())
    size = ", --fast network" if fast else ""
    return _pass(f"fresh weights, input {shape}{size}, max |ts - torch| = {diff:.1e}")


def _pretty(text: str) -> str:
    """What ``pretty-format-json --no-sort-keys --indent=4`` writes (ensure_ascii stays on, as in the hook)."""
    return json.dumps(json.loads(text), indent=4, ensure_ascii=True, separators=(",", ": ")) + "\n"


def check_json(root: Path, **_: object) -> Result:
    bad = []
    from monai_fusion.bundle_zip import listed_files

    files = sorted(p for p in listed_files(root, untracked=False) if p.suffix == ".json")  # tracked files only
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            if text != _pretty(text):
                bad.append(str(path.relative_to(root)))
        except json.JSONDecodeError as e:
            bad.append(f"{path.relative_to(root)} (invalid JSON: {e})")
    if bad:
        return _fail(f"not 4-space pretty-printed with kept key order: {', '.join(bad)}")
    return _pass(f"{len(files)} JSON files")


def check_size(root: Path, **_: object) -> Result:
    from monai_fusion.bundle_zip import listed_files

    files = listed_files(root, untracked=False)
    big = [
        f"{p.relative_to(root)} ({p.stat().st_size / 2**20:.1f} MiB)"
        for p in files
        if p.stat().st_size > MAX_FILE_BYTES
    ]
    return _fail(f"over 1 MiB: {', '.join(big)}") if big else _pass(f"{len(files)} files <= 1 MiB")


CHECK_FUNCTIONS: dict[str, Callable[..., Result]] = {
    "files": check_files,
    "weights": check_weights,
    "version": check_version,
    "metadata": check_metadata,
    "pins": check_pins,
    "net_in_out": check_net_in_out,
    "torchscript": check_torchscript,
    "json": check_json,
    "size": check_size,
}


def run_check(name: str, root: Path, **kwargs: object) -> Result:
    """Run one check; an exception is a FAIL carrying its message."""
    if name not in ("files", "weights", "size", "json") and not (root / "configs" / "metadata.json").is_file():
        return _fail("configs/metadata.json missing")
    start = time.perf_counter()
    try:
        result = CHECK_FUNCTIONS[name](root, **kwargs)
        if time.perf_counter() - start > 1:
            result.detail += f" ({time.perf_counter() - start:.0f} s)"
        return result
    except Exception as e:  # noqa: BLE001 - every failure becomes a table cell
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if os.environ.get("VERIFY_BUNDLES_TRACEBACK"):
            traceback.print_exc()
        return _fail(f"{type(e).__name__}: {message[:300]}")


def _tracked_copy(bundle: Path, dest: Path) -> Path:
    """Copy the files git tracks in ``bundle`` (all its files outside a git work tree) to ``dest``; return ``dest``."""
    from monai_fusion.bundle_zip import listed_files

    for path in listed_files(bundle, untracked=False):
        target = dest / path.relative_to(bundle)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def format_table(rows: dict[str, dict[str, Result]], checks: tuple[str, ...]) -> str:
    """A Markdown table of statuses followed by one line per cell detail."""
    header = ["bundle", *checks]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bundle, results in rows.items():
        lines.append("| " + " | ".join([bundle, *(results[c].status if c in results else "-" for c in checks)]) + " |")
    lines.append("")
    for bundle, results in rows.items():
        for check, result in results.items():
            if result.detail:
                lines.append(f"{result.status:4} {bundle} / {check}: {result.detail}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", nargs="+", help="bundle names under --bundles-dir (default: all of them)")
    parser.add_argument("--bundles-dir", type=Path, default=REPO_ROOT / "bundles", help="folder holding the bundles")
    parser.add_argument(
        "--repo-root", type=Path, default=REPO_ROOT, help="the checkout whose tracked files the (repository) row checks"
    )
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA, help="offline copy of the metadata schema")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="input height/width for net_in_out and torchscript instead of the metadata's spatial_shape "
        "(the network keeps its full size; a smaller input only makes the CPU forward passes cheaper)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help=f"net_in_out and torchscript on a narrow copy of each network (FAST_OVERRIDES) at "
        f"{FAST_IMAGE_SIZE} px, unless --image-size says otherwise: the CI setting (full size: ~10 min)",
    )
    parser.add_argument("--checks", nargs="+", choices=CHECKS, default=list(CHECKS), help="subset of the checks")
    parser.add_argument("--no-repo-row", action="store_true", help="skip the (repository) file-size row")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fast and args.image_size is None:
        args.image_size = FAST_IMAGE_SIZE
    if not args.schema.is_file():
        print(
            f"error: metadata schema {args.schema} not found. verify_bundles.py validates offline and never downloads "
            "it. Fix: pass --schema PATH to a copy of meta_schema_20240725.json (the URL is in each "
            "configs/metadata.json under 'schema').",
            file=sys.stderr,
        )
        return 2
    names = args.bundles or sorted(p.name for p in args.bundles_dir.iterdir() if (p / "configs").is_dir())
    missing = [n for n in names if not (args.bundles_dir / n).is_dir()]
    if missing:
        print(f"error: no bundle folder {', '.join(missing)} under {args.bundles_dir}; fix the --bundles names.")
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    import monai.bundle  # noqa: F401 - creates MONAI's loggers, quietened below (the table is the output)

    for logger_name in list(logging.root.manager.loggerDict):
        if logger_name.startswith("monai"):
            logging.getLogger(logger_name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No hash value provided")
    rows: dict[str, dict[str, Result]] = {}
    start = time.perf_counter()
    options = {"schema": args.schema, "image_size": args.image_size, "fast": args.fast}
    with tempfile.TemporaryDirectory(prefix="verify_bundles_") as tmp:
        for name in names:
            source = args.bundles_dir / name
            root = _tracked_copy(source, Path(tmp) / name)
            rows[name] = {c: run_check(c, root, source=source, **options) for c in args.checks}
    if not args.no_repo_row and "size" in args.checks:
        rows["(repository)"] = {"size": run_check("size", args.repo_root)}
    print(format_table(rows, tuple(args.checks)))
    failed = sum(r.status == "FAIL" for results in rows.values() for r in results.values())
    print(f"\n{failed} failing check(s); {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
