# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Pack a bundle folder into the zip archive the MONAI model zoo and ``monai.bundle.download --url`` expect.

Layout: every file sits under one top folder named after the bundle (``<name>/configs/metadata.json``, ...), which
is what the bundle specification asks for and what ``monai.bundle.download`` extracts into ``<bundle_dir>/<name>``.
Only the files git tracks or would add are packed when the bundle is inside a git work tree (so ``eval/``, ``runs/``
and local checkpoints stay out), unless ``include`` names more (e.g. ``models/model.pt`` once trained).

Without ``--output`` the zip goes to ``dist/<name>_v<version>.zip`` under ``$MONAI_FUSION_HOME`` (default
``~/.cache/monai_fusion``), outside the bundle and the repository; the command prints where it went.

Command line::

    python -m monai_fusion.bundle_zip bundles/cdfinet [--output /tmp/cdfinet_v0.1.0.zip] [--include models/model.pt]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["bundle_files", "listed_files", "pack_bundle"]

_STORED_SUFFIXES = (".pt", ".pth", ".ts", ".onnx", ".data")


def listed_files(folder: str | os.PathLike, untracked: bool = True) -> list[Path]:
    """Files git tracks under ``folder``, and with ``untracked`` also those it would add (untracked, not ignored);
    every file when ``folder`` is not in a git work tree.

    Args:
        folder: the folder to list.
        untracked: also list untracked files that are not git-ignored. With False the listing is what the
            repository holds, whatever an earlier run left in the checkout (``scripts/verify_bundles.py``).
    """
    folder = Path(folder)
    extra = ["--others", "--exclude-standard"] if untracked else []
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", *extra, "--", "."],
            cwd=folder,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [p for p in folder.rglob("*") if p.is_file()]
    return [folder / p for p in out.decode().split("\0") if p and (folder / p).is_file()]


def bundle_files(bundle: str | os.PathLike, include: Sequence[str] = ()) -> list[str]:
    """Paths (relative to ``bundle``, POSIX separators) of the files to pack.

    Args:
        bundle: the bundle folder.
        include: extra relative paths to pack even if git ignores them (e.g. ``models/model.pt``); a ``.pt`` file brings
            the ``training_record.json`` beside it when there is one.

    Raises:
        FileNotFoundError: ``bundle`` has no ``configs/metadata.json``, or an ``include`` path is missing.
    """
    root = Path(bundle)
    if not (root / "configs" / "metadata.json").is_file():
        raise FileNotFoundError(
            f"{root}: no configs/metadata.json, so this is not a MONAI bundle folder; pass the folder holding "
            "configs/, docs/ and LICENSE (e.g. bundles/cdfinet)."
        )
    files = {p.relative_to(root).as_posix() for p in listed_files(root)}
    for extra in include:
        if not (root / extra).is_file():
            raise FileNotFoundError(
                f"{root / extra}: listed in include but missing; create it or drop it from include."
            )
        files.add(Path(extra).as_posix())
        # weights travel with the record of what was trained (network, image size, classes), which inference.json
        # reads; without it the unpacked bundle would build its default network
        record = Path(extra).parent / "training_record.json"
        if Path(extra).suffix == ".pt" and (root / record).is_file():
            files.add(record.as_posix())
    return sorted(files)


def pack_bundle(
    bundle: str | os.PathLike,
    output: str | os.PathLike | None = None,
    name: str | None = None,
    include: Sequence[str] = (),
) -> Path:
    """Write ``bundle`` into a zip whose single top folder is the bundle name.

    Args:
        bundle: the bundle folder.
        output: the zip path; default ``<monai_fusion_home()>/dist/<name>_v<version>.zip`` (the zoo's release-asset
            name, outside the bundle and the repository).
        name: the top folder name, default the folder name of ``bundle``. ``monai.bundle.download`` extracts the
            archive next to itself and expects this folder to equal ``--name``.
        include: extra files to pack even if git ignores them, relative to ``bundle``.

    Returns:
        the path of the zip file.
    """
    root = Path(bundle)
    name = name or root.resolve().name
    files = bundle_files(root, include)
    if output is None:
        version = json.loads((root / "configs" / "metadata.json").read_text(encoding="utf-8"))["version"]
        from monai_fusion.data.catalogue import monai_fusion_home

        output = monai_fusion_home() / "dist" / f"{name}_v{version}.zip"
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in files:
            # weights barely compress: store them as they are (much faster for large checkpoints)
            method = zipfile.ZIP_STORED if rel.endswith(_STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
            archive.write(root / rel, arcname=f"{name}/{rel}", compress_type=method)
    return output


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: ``python -m monai_fusion.bundle_zip <bundle> [--output ZIP] [--include PATH ...]``."""
    parser = argparse.ArgumentParser(description="Pack a MONAI bundle folder into a model-zoo style zip.")
    parser.add_argument("bundle", help="bundle folder, e.g. bundles/cdfinet")
    parser.add_argument(
        "--output",
        help="zip path (default: dist/<name>_v<version>.zip under $MONAI_FUSION_HOME, or else ~/.cache/monai_fusion)",
    )
    parser.add_argument("--name", help="top folder name inside the zip (default: the folder name)")
    parser.add_argument("--include", nargs="*", default=[], help="extra files, e.g. models/model.pt")
    args = parser.parse_args(argv)
    archive = pack_bundle(args.bundle, args.output, args.name, args.include)
    with zipfile.ZipFile(archive) as z:
        count = len(z.namelist())
    print(f"wrote {archive.resolve()} ({count} files, {archive.stat().st_size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
