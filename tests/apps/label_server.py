# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Start the MONAI Label app the documented way (``serve.py``) for a test module, and stop it (process group).

The server always binds to 127.0.0.1 (``serve.py``'s default) on a free port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.utils import REPO_ROOT

APP_DIR = REPO_ROOT / "apps" / "monailabel"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(log: Path, n: int = 60) -> str:
    """The last ``n`` lines of the server log."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else "(no log)"


def stop(proc: subprocess.Popen) -> None:
    """Terminate the server's process group (SIGKILL after 20 s)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@contextmanager
def running_server(
    root: Path,
    studies: Path,
    models: Sequence[str],
    bundle_path: Path,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[dict]:
    """Run ``serve.py --studies studies --conf models ... --conf bundle_path ...`` until the block ends.

    Args:
        root: folder of the server log (``server.log``).
        studies: the studies folder.
        models: bundle names to serve.
        bundle_path: folder holding the bundle copies.
        env: extra environment variables of the server (token, origins...).
        headers: headers of the readiness probe (``GET /info/``).
        extra_args: more ``serve.py`` arguments.

    Yields:
        ``{"url", "proc", "port", "log"}``.
    """
    import requests

    port, log = free_port(), root / "server.log"
    cmd = [sys.executable, str(APP_DIR / "serve.py"), "--studies", str(studies), "--conf", "models", ",".join(models)]
    cmd += ["--conf", "bundle_path", str(bundle_path), "--port", str(port), *extra_args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO_ROOT)}
    full_env.update({"MONAI_FUSION_LABEL_HOME": str(root / "home"), **(env or {})})
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log_tail(log)}")
            try:
                if requests.get(f"{url}/info/", headers=dict(headers or {}), timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {START_TIMEOUT_S} s:\n{log_tail(log)}")
            time.sleep(1.0)
        yield {"url": url, "proc": proc, "port": port, "log": log}
    finally:
        stop(proc)
