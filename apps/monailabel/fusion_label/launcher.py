# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Start MONAI Label's server for this app with safe defaults.

``monailabel start_server`` binds to ``0.0.0.0`` (every network interface) unless ``--host`` is given. The launcher
(``python apps/monailabel/serve.py ...``) forwards every ``start_server`` option unchanged but fills in:

* ``--host 127.0.0.1`` (loopback: reachable from this machine only) when no ``--host``/``-i`` is given;
* ``--app <label home>`` when no ``--app``/``-a`` is given: a folder outside the repository
  (``$MONAI_FUSION_LABEL_HOME``, default ``~/.cache/monai-fusion/label``) holding a two-line ``main.py`` that loads
  this app, because MONAI Label writes into its app folder (``logs/app.log``, empty ``bin/ lib/ model/``), and a
  documented command never writes into the checkout;
* ``--conf zoo_source local`` and ``--conf sam2 false`` (offline: no model-zoo query, no SAM2 weight download) unless
  those keys are given;
* ``--uvicorn_app fusion_label.server:app``: MONAI Label's app wrapped with the token check, the origin policy, the
  checked inference route and 4xx errors (:mod:`fusion_label.server`).

``--conf auth_token TOKEN`` is taken out of the arguments (MONAI Label logs them and exports them to the environment
as ``MONAI_LABEL_APP_CONF``) and passed as ``$MONAI_FUSION_LABEL_TOKEN``. The launcher refuses to start on an address
other than loopback (``--host 0.0.0.0``...) without a token (:func:`check_exposure`).

It also applies :func:`fusion_label.compat.patch_pydicom_seg` before MONAI Label is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

from .security import MIN_TOKEN_LENGTH, TOKEN_ENV, TOKEN_HINT, auth_token, is_loopback

#: the address the server binds to unless ``--host`` is given: loopback only.
DEFAULT_HOST = "127.0.0.1"
APP_DIR = Path(__file__).resolve().parents[1]
HOME_ENV = "MONAI_FUSION_LABEL_HOME"
SHIM = """# written by serve.py: MONAI Label loads this file and runs the monai-fusion app of {app}
import sys

sys.path.insert(0, {app!r})
from fusion_label.compat import patch_pydicom_seg  # noqa: E402

patch_pydicom_seg()
from fusion_label.app import FusionApp  # noqa: E402, F401
"""


def label_home(env: Mapping[str, str] | None = None) -> Path:
    """The app folder ``serve.py`` runs MONAI Label from: ``$MONAI_FUSION_LABEL_HOME``, else
    ``~/.cache/monai-fusion/label``."""
    value = (os.environ if env is None else env).get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "monai-fusion" / "label"


def prepare_label_home(home: Path) -> Path:
    """Create ``home`` with the ``main.py`` that loads this app (rewritten each start); returns ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "main.py").write_text(SHIM.format(app=str(APP_DIR)))
    return home


OFFLINE_CONF = {"zoo_source": "local", "sam2": "false"}
UVICORN_APP = "fusion_label.server:app"


class ExposureError(SystemExit):
    """The server would listen on a non-loopback address without an access token."""


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
        out += ["--app", str(label_home())]
    if not _has_option(out, "--host", "-i"):
        out += ["--host", DEFAULT_HOST]
    if not _has_option(out, "--uvicorn_app"):
        out += ["--uvicorn_app", UVICORN_APP]
    given = _conf_keys(out)
    for key, value in OFFLINE_CONF.items():
        if key not in given:
            out += ["--conf", key, value]
    return out


def _option_value(args: Sequence[str], *names: str) -> str | None:
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
        for n in names:
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1 :]
    return None


def take_token(args: Sequence[str], env: MutableMapping[str, str]) -> list[str]:
    """``args`` without ``--conf auth_token TOKEN``; the token goes to ``env[MONAI_FUSION_LABEL_TOKEN]``."""
    out, i = [], 0
    while i < len(args):
        if args[i] in ("--conf", "-c") and i + 1 < len(args) and args[i + 1] == "auth_token":
            if i + 2 >= len(args):
                raise SystemExit("--conf auth_token needs a value")
            env[TOKEN_ENV] = args[i + 2]
            i += 3
            continue
        out.append(args[i])
        i += 1
    return out


def check_exposure(args: Sequence[str], env: MutableMapping[str, str]) -> None:
    """Refuse to listen on a non-loopback address without a token (and refuse a short token).

    Raises:
        ExposureError: with the message printed by ``serve.py``.
    """
    try:
        token = auth_token(env)
    except ValueError as e:
        raise ExposureError(f"serve.py: {e}") from e
    host = _option_value(args, "--host", "-i") or DEFAULT_HOST
    if token is None and not is_loopback(host):
        raise ExposureError(
            f"serve.py: refusing to listen on {host} without an access token: anyone who can reach that address "
            f"could download the weights, read the log and write to the datastore. Set {TOKEN_ENV} (at least "
            f"{MIN_TOKEN_LENGTH} characters, e.g. export {TOKEN_ENV}=$({TOKEN_HINT})) or pass --conf auth_token "
            "TOKEN; clients then send 'Authorization: Bearer TOKEN'. Or leave out --host to listen on 127.0.0.1 only."
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``monailabel start_server`` in this process with :func:`build_start_server_args` applied.

    Raises:
        ExposureError: a non-loopback ``--host`` without a token (:func:`check_exposure`).
    """
    from .compat import patch_pydicom_seg

    args = take_token(sys.argv[1:] if argv is None else argv, os.environ)
    check_exposure(args, os.environ)
    patch_pydicom_seg()
    if not _has_option(args, "--app", "-a"):
        prepare_label_home(label_home())
    args = build_start_server_args(args)
    from monailabel.main import Main

    sys.argv = ["monailabel", "start_server", *args]
    Main().run()
