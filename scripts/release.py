# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Release helpers: the PyPI artefacts of monai-fusion and the zips of the bundles (docs/sharing.md).

``dist``: build the sdist and the wheel with ``python -m build`` from a clean copy of the sources (``git archive`` of
a commit, default ``HEAD``; or, with ``--working-tree``, the files git tracks or would add, as they are on disk), so
the build writes nothing into the checkout (no ``*.egg-info``, no ``build/``); then ``twine check --strict``::

    python scripts/release.py dist --outdir /tmp/monai-fusion-dist
    twine upload /tmp/monai-fusion-dist/*

``bundle``: pack a bundle into ``<outdir>/<name>_v<version>.zip``, with ``models/model.pt`` (and ``models/model.ts``)
when it exists. With ``--weights-url URL`` (where ``models/model.pt`` has been uploaded, exactly this file), first
write its entry (path, url, sha256 ``hash_val``, ``hash_type``) into the bundle's ``large_files.yml``, which the model
zoo and ``python -m monai.bundle download_large_files`` read::

    python scripts/release.py bundle bundles/cdfinet --outdir /tmp/bundle-zips
    python scripts/release.py bundle bundles/cdfinet --outdir /tmp/bundle-zips --weights-url https://host/cdfinet.pt

``--weights-url`` is the one command that edits the bundle folder (its ``large_files.yml``; commit that change).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout: import the package of this checkout
    sys.path.insert(0, str(REPO_ROOT))

from monai_fusion.bundle_zip import listed_files, pack_bundle  # noqa: E402

#: files of ``models/`` packed into the zip when they exist (the trained network and its TorchScript export).
WEIGHT_FILES = ("models/model.pt", "models/model.ts")
LARGE_FILES_HEADER = (
    "# Large files of this bundle; download them with\n"
    "#   python -m monai.bundle download_large_files --bundle_path <bundle folder>\n"
    "# Written by scripts/release.py bundle --weights-url (sha256 of the uploaded file).\n"
)


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _copy_sources(dest: Path, ref: str | None) -> None:
    """Copy the sources into ``dest``: ``git archive <ref>``, or the working tree's listed files if ``ref`` is None."""
    dest.mkdir(parents=True)
    if ref is None:
        for path in listed_files(REPO_ROOT):
            target = dest / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return
    archive = dest.parent / "source.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), ref], cwd=REPO_ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()


def build_dist(outdir: str | os.PathLike, ref: str | None = "HEAD", check: bool = True) -> list[Path]:
    """Build the sdist and the wheel into ``outdir`` from a temporary copy of the sources; ``twine check`` them.

    Args:
        outdir: where the artefacts go (created if needed).
        ref: the git commit to release; None for the working tree as it is on disk.
        check: run ``twine check --strict`` on the artefacts.

    Returns:
        the paths of the built files.

    Raises:
        RuntimeError: the build or the check failed (the message holds their output).
    """
    outdir = Path(outdir).resolve()
    with tempfile.TemporaryDirectory(prefix="monai-fusion-release-") as tmp:
        source = Path(tmp) / "src"
        _copy_sources(source, ref)
        cmd = [sys.executable, "-m", "build", "--outdir", str(outdir), str(source)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 and "Could not find a version" in result.stdout + result.stderr:
            # no package index: build with the setuptools of this environment
            cmd += ["--no-isolation", "--skip-dependency-check"]
            result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"python -m build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        last = result.stdout.strip().splitlines()[-1]  # "Successfully built <sdist> and <wheel>"
        built = [outdir / name for name in last.replace("Successfully built ", "").split(" and ")]
    if check:
        result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built)], text=True)
        if result.returncode != 0:
            raise RuntimeError("twine check failed (see above)")
    return built


def _read_large_files(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    import yaml

    entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("large_files") or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'large_files' must be a list of entries (path, url, hash_val, hash_type).")
    return entries


def write_large_files_entry(bundle: str | os.PathLike, url: str, rel_path: str = "models/model.pt") -> dict:
    """Add (or replace) the ``large_files.yml`` entry of ``rel_path`` with ``url`` and the file's SHA-256.

    Args:
        bundle: the bundle folder.
        url: where the file was uploaded (http, https or file URL); not checked online.
        rel_path: the file, relative to ``bundle``.

    Returns:
        the entry written.

    Raises:
        FileNotFoundError: ``rel_path`` does not exist in ``bundle``.
        ValueError: ``url`` is not an http(s) or file URL.
    """
    root = Path(bundle)
    weights = root / rel_path
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no such file; train the bundle first (see its docs/README.md).")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", "file") or not (parsed.netloc or parsed.path):
        raise ValueError(f"--weights-url {url!r} is not an http(s) or file URL; give the address of the upload.")
    large_files = root / "large_files.yml"
    entries = [e for e in _read_large_files(large_files) if e.get("path") != rel_path]
    entry = {"path": rel_path, "url": url, "hash_val": sha256(weights), "hash_type": "sha256"}
    entries.append(entry)
    lines = [LARGE_FILES_HEADER.rstrip("\n"), "large_files:"]
    for e in entries:
        lines.append(f"  - path: {json.dumps(e['path'])}")
        for key in ("url", "hash_val", "hash_type"):
            if key in e:
                lines.append(f"    {key}: {json.dumps(str(e[key]))}")
    large_files.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return entry


def release_bundle(
    bundle: str | os.PathLike, outdir: str | os.PathLike, weights_url: str | None = None, include: Sequence[str] = ()
) -> Path:
    """Pack ``bundle`` into ``<outdir>/<name>_v<version>.zip`` with its weights when they exist.

    Args:
        bundle: the bundle folder.
        outdir: the folder of the zip.
        weights_url: where ``models/model.pt`` was uploaded; its ``large_files.yml`` entry is written first.
        include: more files to pack, relative to ``bundle``.

    Returns:
        the zip path.
    """
    root = Path(bundle)
    meta = root / "configs" / "metadata.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{root}: no configs/metadata.json; pass a bundle folder such as bundles/cdfinet.")
    if weights_url is not None:
        entry = write_large_files_entry(root, weights_url)
        print(f"{root / 'large_files.yml'}: {entry}")
    version = json.loads(meta.read_text(encoding="utf-8"))["version"]
    name = root.resolve().name
    extra = [f for f in WEIGHT_FILES if (root / f).is_file()] + list(include)
    return pack_bundle(root, Path(outdir) / f"{name}_v{version}.zip", name=name, include=sorted(set(extra)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dist = sub.add_parser("dist", help="build the sdist and the wheel, then twine check them")
    dist.add_argument("--outdir", required=True, help="folder of the artefacts (outside the checkout)")
    source = dist.add_mutually_exclusive_group()
    source.add_argument("--ref", default="HEAD", help="git commit or tag to build (default HEAD)")
    source.add_argument("--working-tree", action="store_true", help="build the files on disk, uncommitted included")
    dist.add_argument("--no-check", action="store_true", help="skip twine check")
    bundle = sub.add_parser("bundle", help="pack a bundle zip (with models/model.pt when it exists)")
    bundle.add_argument("bundle", help="bundle folder, e.g. bundles/cdfinet")
    bundle.add_argument("--outdir", required=True, help="folder of the zip")
    bundle.add_argument("--weights-url", help="URL of the uploaded models/model.pt: writes its large_files.yml entry")
    bundle.add_argument("--include", nargs="*", default=[], help="more files to pack, relative to the bundle")
    args = parser.parse_args(argv)
    try:
        if args.command == "dist":
            for path in build_dist(args.outdir, None if args.working_tree else args.ref, check=not args.no_check):
                print(path)
        else:
            print(release_bundle(args.bundle, args.outdir, args.weights_url, args.include))
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
