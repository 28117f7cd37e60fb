# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The monai-fusion MONAI Label app end to end: a real server over HTTP, real HAM10000 and Kvasir-SEG images.

The server is started the documented way (``python apps/monailabel/serve.py``, no ``--host``) on a free port with
tiny copies of all five bundles (random weights, see ``label_bundles.py``), and stopped by the fixture (process group
terminated, also when a test fails). Classification bundles must answer one score per ``channel_def`` class, summing to
1; the segmentation bundle a binary mask of the input's size.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from apps.monailabel.fusion_label.launcher import DEFAULT_HOST, build_start_server_args, label_home
from tests.apps.label_server import APP_DIR, START_TIMEOUT_S, free_port, log_tail, stop
from tests.apps.test_monailabel_train import import_monailabel
from tests.utils import REPO_ROOT, require_data

pytestmark = [pytest.mark.data, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CLASSIFICATION = ("cdfinet", "hifuse", "medmamba", "mfsf2net")
SEGMENTATION = "mfsf2net_segmentation"


def test_launcher_binds_to_loopback_by_default() -> None:
    """The documented start command (serve.py) adds ``--host 127.0.0.1`` unless a host is given (no monailabel)."""
    args = build_start_server_args(["--studies", "s", "--conf", "models", "cdfinet"])
    assert DEFAULT_HOST == "127.0.0.1"
    assert args[args.index("--host") + 1] == "127.0.0.1" and args.count("--host") == 1
    assert args[args.index("--app") + 1] == str(label_home())  # outside the checkout: MONAI Label writes there
    default = label_home({})
    assert REPO_ROOT not in (default, *default.parents)
    confs = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--conf"}
    assert confs == {"models": "cdfinet", "zoo_source": "local", "sam2": "false"}
    explicit = build_start_server_args(["-i", "0.0.0.0", "--conf", "sam2", "true"])
    assert "--host" not in explicit and explicit[explicit.index("-i") + 1] == "0.0.0.0"
    assert [explicit[i + 2] for i, a in enumerate(explicit) if a == "--conf" and explicit[i + 1] == "sam2"] == ["true"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A running server with the five tiny bundles; yields its URL, process and log file."""
    import_monailabel()
    import requests

    from tests.apps.label_bundles import make_tiny_bundle

    require_data("ham10000", "images")
    require_data("kvasir_seg", "images")
    root = tmp_path_factory.mktemp("monailabel")
    for i, name in enumerate((*CLASSIFICATION, SEGMENTATION)):
        make_tiny_bundle(name, root / "bundles", seed=i)
    (root / "studies").mkdir()
    port, log = free_port(), root / "server.log"
    cmd = [
        sys.executable,
        str(APP_DIR / "serve.py"),  # the documented start command, without --host
        "--studies",
        str(root / "studies"),
        "--conf",
        "models",
        ",".join((*CLASSIFICATION, SEGMENTATION)),
        "--conf",
        "bundle_path",
        str(root / "bundles"),
        "--port",
        str(port),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "PYTHONPATH": str(REPO_ROOT),
        "MONAI_FUSION_LABEL_HOME": str(root / "home"),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log_tail(log)}")
            try:
                if requests.get(f"{url}/info/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after {START_TIMEOUT_S} s:\n{log_tail(log)}")
            time.sleep(1.0)
        yield {"url": url, "proc": proc, "port": port, "log": log, "root": root}
    finally:
        stop(proc)
    shutil.rmtree(root, ignore_errors=True)  # checkpoints: the suite must not fill the disk


def _infer(server: dict, model: str, image: Path, output: str) -> Any:
    """POST ``image`` to ``/infer/<model>?output=...``; the ``requests.Response``."""
    import requests

    with open(image, "rb") as f:
        res = requests.post(
            f"{server['url']}/infer/{model}", params={"output": output}, files={"file": (image.name, f)}, timeout=120
        )
    assert res.status_code == 200, f"{res.status_code} {res.text[:500]}\n{log_tail(server['log'])}"
    return res


def _first(folder: Path, suffix: str = ".jpg") -> Path:
    return sorted(p for p in folder.iterdir() if p.suffix == suffix)[0]


def test_server_binds_to_loopback_by_default(server: dict) -> None:
    import psutil

    proc = psutil.Process(server["proc"].pid)
    conns = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections(kind="inet")
    listening = {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.port == server["port"]}
    assert listening == {"127.0.0.1"}


def test_server_writes_its_files_outside_the_checkout(server: dict) -> None:
    """MONAI Label writes into its app folder: serve.py runs it from the label home, which holds the log."""
    import requests

    home = server["root"] / "home"
    assert (home / "main.py").is_file() and (home / "logs" / "app.log").is_file()
    log = requests.get(f"{server['url']}/logs/", params={"text": "true"}, timeout=10).text
    assert str(home) in log  # the served log is the label home's


def test_without_a_token_only_loopback_names_are_answered(server: dict) -> None:
    """No token (the default): the loopback server answers without one, but not to other Host names (DNS rebinding)."""
    import requests

    assert requests.get(f"{server['url']}/info/", timeout=10).status_code == 200
    for host in ("localhost", f"127.0.0.1:{server['port']}"):
        assert requests.get(f"{server['url']}/info/", headers={"Host": host}, timeout=10).status_code == 200
    rebound = requests.get(f"{server['url']}/info/", headers={"Host": f"evil.example:{server['port']}"}, timeout=10)
    assert rebound.status_code == 403 and "without an access token" in rebound.json()["detail"]
    assert requests.get(f"{server['url']}/auth/", timeout=10).status_code == 404  # no login without a token


def test_info_lists_every_bundle(server: dict) -> None:
    import requests

    info = requests.get(f"{server['url']}/info/", timeout=10).json()
    assert set(info["models"]) == {*CLASSIFICATION, SEGMENTATION}
    assert {n: info["models"][n]["type"] for n in info["models"]} == {
        **dict.fromkeys(CLASSIFICATION, "classification"),
        SEGMENTATION: "segmentation",
    }
    assert set(info["trainers"]) == {*CLASSIFICATION, SEGMENTATION}  # every bundle has a train.json


@pytest.mark.parametrize("model", CLASSIFICATION)
def test_classification_returns_one_score_per_class(server: dict, model: str) -> None:
    image = _first(require_data("ham10000", "images"))
    prediction = _infer(server, model, image, "json").json()["prediction"]
    meta = json.loads((REPO_ROOT / "bundles" / model / "configs" / "metadata.json").read_text())
    channel_def = meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    assert [(p["idx"], p["label"]) for p in prediction] == [(int(k), v.lower()) for k, v in channel_def.items()]
    scores = np.array([p["score"] for p in prediction])
    assert np.all((scores >= 0) & (scores <= 1)) and abs(scores.sum() - 1.0) < 1e-4


def test_segmentation_returns_a_binary_mask_of_the_image_size(server: dict) -> None:
    kvasir = _first(require_data("kvasir_seg", "images"))
    ham = _first(require_data("ham10000", "images"))  # 200 x 150: a transposed mask would show
    for image in (kvasir, ham):
        res = _infer(server, SEGMENTATION, image, "image")
        with Image.open(io.BytesIO(res.content)) as mask, Image.open(image) as src:
            assert mask.format == "PNG" and mask.size == src.size
            assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 1}
    assert Image.open(kvasir).size == (256, 256)
    params = _infer(server, SEGMENTATION, kvasir, "json").json()
    assert params["label_names"] == {"polyp": 1}
