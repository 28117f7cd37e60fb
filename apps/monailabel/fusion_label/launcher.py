# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Start MONAI Label's server for this app with safe defaults.

``monailabel start_server`` binds to ``0.0.0.0`` (every network interface) unless ``--host`` is given. The launcher
(``python apps/monailabel/serve.py ...``) forwards every ``start_server`` option unchanged but fills in:

* ``--host 127.0.0.1`` (loopback: reachable from this machine only) when no ``--host``/``-i`` is given;
* ``--app <this app>`` when no ``--app``/``-a`` is given;
* ``--conf zoo_source local`` and ``--conf sam2 false`` (offline: no model-zoo query, no SAM2 weight download) unless
  those keys are given.

It also applies :func:`fusion_label.compat.patch_pydicom_seg` before MONAI Label is imported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

#: the address the server binds to unless ``--host`` is given: loopback only.
DEFAULT_HOST = "127.0.0.1"
APP_DIR = Path(__file__).resolve().parents[1]
OFFLINE_CONF = {"zoo_source": "local", "sam2": "false"}


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(a in names or any(a.startswith(n + "=") for n in names if n.startswith("--")) for a in args)


def _conf_keys(args: Sequence[str]) -> set[str]:
    return {args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--conf", "-c")}


def build_start_server_args(args: Sequence[str]) -> list[str]:
    """The ``monailabel start_server`` arguments: ``args`` plus the defaults above for what ``args`` leaves out.

    Args:
        args: ``start_server`` options as given on the command line (``--studies DIR --conf models a,b`` ...).
    """
    out = list(args)
    if not _has_option(out, "--app", "-a"):
        out += ["--app", str(APP_DIR)]
    if not _has_option(out, "--host", "-i"):
        out += ["--host", DEFAULT_HOST]
    given = _conf_keys(out)
    for key, value in OFFLINE_CONF.items():
        if key not in given:
            out += ["--conf", key, value]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``monailabel start_server`` in this process with :func:`build_start_server_args` applied."""
    from .compat import patch_pydicom_seg

    patch_pydicom_seg()
    args = build_start_server_args(sys.argv[1:] if argv is None else argv)
    from monailabel.main import Main

    sys.argv = ["monailabel", "start_server", *args]
    Main().run()
