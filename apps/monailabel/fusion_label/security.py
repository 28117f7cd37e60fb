# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Checks that keep the MONAI Label server safe to leave running; none of them imports monailabel.

* :func:`check_name`: image ids, label tags and result names are single path components (no separator, no ``..``,
  no absolute path, no hidden name), so nothing is ever written outside the studies folder;
* :func:`check_inside`: a resolved path lies inside an allowed folder (the studies folder, the upload folder);
* :func:`check_image_file`: an uploaded or named image has a format the bundles read (:data:`IMAGE_EXTENSIONS`),
  is not empty and decodes with the bundles' own reader;
* :func:`auth_token`, :func:`is_loopback`, :func:`cors_origins`, :func:`infer_concurrency`: the server settings
  (environment variables ``MONAI_FUSION_LABEL_*`` or ``--conf`` keys; see ``docs/monailabel.md``).

Every refusal is a :class:`RequestRefusedError` carrying the HTTP status and a one-line reason; the server turns it
into a ``4xx`` answer ``{"detail": reason}``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

#: file name endings of the image formats the bundles read (MONAI's readers: PIL, pydicom, nibabel).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".nii", ".nii.gz")
#: what a segmentation answer may be written as (``result_extension``).
RESULT_EXTENSIONS = (".png", ".nii.gz", ".nii", ".tif", ".tiff")
#: environment variables of the server settings.
TOKEN_ENV = "MONAI_FUSION_LABEL_TOKEN"
CORS_ENV = "MONAI_FUSION_LABEL_CORS_ORIGINS"
CONCURRENCY_ENV = "MONAI_FUSION_LABEL_INFER_CONCURRENCY"
QUEUE_ENV = "MONAI_FUSION_LABEL_INFER_QUEUE"
MIN_TOKEN_LENGTH = 16
TOKEN_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_upload_dir: Path | None = None


class RequestRefusedError(ValueError):
    """A request the server refuses: ``status_code`` (4xx) and a one-line ``reason``."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def datastore_patterns() -> list[str]:
    """``LocalDatastore`` glob patterns of :data:`IMAGE_EXTENSIONS`, lower and upper case (``*.jpg``, ``*.JPG``)."""
    return [f"*{e}" for e in IMAGE_EXTENSIONS] + [f"*{e.upper()}" for e in IMAGE_EXTENSIONS]


def image_extension(filename: str) -> str:
    """The :data:`IMAGE_EXTENSIONS` entry ``filename`` ends with (case-insensitive), else ``""``."""
    lower = filename.lower()
    return next((e for e in sorted(IMAGE_EXTENSIONS, key=len, reverse=True) if lower.endswith(e)), "")


def check_name(value: str, what: str) -> str:
    """Refuse (400) ``value`` unless it is a plain file name component.

    Refused: empty, path separators (``/``, ``\\``), ``..`` anywhere, a drive or URL colon, control characters, a
    leading ``.`` (hidden files, ``.``/``..``) and names over 200 characters.

    Args:
        value: an image id, label tag or result name from a request.
        what: what it is, for the message (``"image id"``, ``"label tag"``).

    Returns:
        ``value`` unchanged.
    """
    if not isinstance(value, str) or not value:
        raise RequestRefusedError(400, f"{what} is empty; give a plain name such as 'case_001'")
    bad = (
        "/" in value
        or "\\" in value
        or ".." in value
        or ":" in value
        or value.startswith(".")
        or bool(_CONTROL.search(value))
        or len(value) > 200
    )
    if bad:
        raise RequestRefusedError(
            400,
            f"{what} {value!r} refused: it must be a plain name (no '/', '\\', '..', ':', leading '.' or control "
            "characters, at most 200 characters)",
        )
    return value


def check_inside(path: str | os.PathLike, *roots: str | os.PathLike) -> Path:
    """The real path of ``path``; refuse (400) it unless it lies inside one of ``roots`` (real paths compared)."""
    real = Path(os.path.realpath(path))
    for root in roots:
        base = Path(os.path.realpath(root))
        if real == base or base in real.parents:
            return real
    raise RequestRefusedError(400, f"{path} is outside the server's datastore; name an image id or upload the file")


def upload_dir() -> Path:
    """The folder (created once per process, in the system temp folder) where uploaded images wait for inference."""
    global _upload_dir
    if _upload_dir is None or not _upload_dir.is_dir():
        _upload_dir = Path(tempfile.mkdtemp(prefix="monai-fusion-label-uploads-"))
    return _upload_dir


def check_image_file(path: str | os.PathLike, name: str) -> None:
    """Refuse ``path`` (the file the request sent as ``name``) unless it is a readable image.

    Raises:
        RequestRefusedError: 415 for a file type the bundles do not read, 422 for an empty file or one that does not
            decode (corrupt, truncated, text); the reason names ``name`` and the cause.
    """
    if not image_extension(name):
        raise RequestRefusedError(
            415, f"{name!r}: unsupported file type; the bundles read {', '.join(IMAGE_EXTENSIONS)} files"
        )
    if os.path.getsize(path) == 0:
        raise RequestRefusedError(422, f"{name!r} is empty (0 bytes)")
    from monai_fusion.transforms import LoadMedicalImage

    try:
        LoadMedicalImage(image_only=True)(str(path))
    except Exception as e:  # the reader's own error says what is wrong (truncated, not an image...)
        cause = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        cause = cause.replace(str(path), name)[:300]
        raise RequestRefusedError(422, f"{name!r} cannot be read as an image ({type(e).__name__}: {cause})") from e


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``); False for ``0.0.0.0`` and the rest."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_token(env: Mapping[str, str] | None = None) -> str | None:
    """The access token from ``$MONAI_FUSION_LABEL_TOKEN`` (None when unset or empty).

    Raises:
        ValueError: the token is shorter than :data:`MIN_TOKEN_LENGTH` characters.
    """
    token = (os.environ if env is None else env).get(TOKEN_ENV, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"{TOKEN_ENV} is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH}, e.g. {TOKEN_HINT}"
        )
    return token


def cors_origins(conf: Mapping[str, str], env: Mapping[str, str] | None = None) -> list[str]:
    """Origins allowed to call the API from a browser: ``--conf cors_origins`` or ``$MONAI_FUSION_LABEL_CORS_ORIGINS``.

    Comma-separated ``scheme://host[:port]`` values; default none (no cross-origin access).
    """
    raw = conf.get("cors_origins") or (os.environ if env is None else env).get(CORS_ENV, "")
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    for origin in origins:
        if origin == "*" or not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ValueError(
                f"cors_origins: {origin!r} is not an origin; list scheme://host[:port] values such as "
                "http://localhost:3000 ('*' is not accepted)"
            )
    return origins


def _positive_int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{name} is {value!r}; give a positive integer")
    return number


def infer_concurrency(conf: Mapping[str, str], env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(running, waiting)``: inferences run at once (default 1) and requests that may wait for a slot (default 32).

    From ``--conf infer_concurrency`` / ``--conf infer_queue`` or ``$MONAI_FUSION_LABEL_INFER_CONCURRENCY`` /
    ``$MONAI_FUSION_LABEL_INFER_QUEUE``.
    """
    env = os.environ if env is None else env
    running = conf.get("infer_concurrency") or env.get(CONCURRENCY_ENV) or "1"
    waiting = conf.get("infer_queue") or env.get(QUEUE_ENV) or "32"
    return _positive_int(running, "infer_concurrency"), _positive_int(waiting, "infer_queue")
