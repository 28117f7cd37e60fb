# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Start from nothing over HTTP: an untrained segmentation bundle, unlabelled Kvasir-SEG images, labels, training.

One real server (``serve.py`` on 127.0.0.1) serves a tiny copy of ``mfsf2net_segmentation`` *without weights* whose
``train.json`` keeps a batch size of 16 (more than the labels given), over 4 unlabelled images. The tests run in file
order: ``/info/`` says untrained and inference answers 409; training is refused (422) until 2 images are labelled;
with 3 labels, a 1-epoch training from scratch (``"pretrained": false``) ends ``DONE`` with a ``model.pt`` that loads
strictly, and the same server then serves it (no restart); MONAI Label's own client saves a fourth label and trains
again from those weights (progress in ``/train/``, new weights, a different mask).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tests.apps.label_server import log_tail, running_server
from tests.apps.test_monailabel_train import import_monailabel
from tests.utils import require_data

pytestmark = [
    pytest.mark.data,
    pytest.mark.bundle,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

MODEL = "mfsf2net_segmentation"
TRAIN_TIMEOUT_S = 600.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    import_monailabel()
    from tests.apps.label_bundles import make_tiny_bundle, rewrite_config

    kvasir = require_data("kvasir_seg")
    root = tmp_path_factory.mktemp("label_active")
    bundle = make_tiny_bundle(MODEL, root / "bundles", weights=False)
    # the committed bundle's batch size; a learning rate high enough (no warm-up) that one iteration changes the mask
    rewrite_config(bundle / "configs" / "train.json", {"batch_size": 16, "learning_rate": 0.05, "warmup_epochs": 0})
    studies = root / "studies"
    studies.mkdir()
    names = sorted(p.name for p in (kvasir / "images").iterdir())[:4]
    for i, name in enumerate(names):
        shutil.copy(kvasir / "images" / name, studies / f"kv{i}.jpg")
    masks = [kvasir / "masks" / n for n in names]
    with running_server(root, studies, (MODEL,), root / "bundles") as srv:
        yield {**srv, "bundle": bundle, "masks": masks, "studies": studies}
    shutil.rmtree(root, ignore_errors=True)  # checkpoints: the suite must not fill the disk


def _post_train(server: dict, body: dict):
    import requests

    return requests.post(f"{server['url']}/train/{MODEL}", json=body, timeout=60)


def _label(server: dict, i: int) -> None:
    import requests

    with open(server["masks"][i], "rb") as f:
        res = requests.put(
            f"{server['url']}/datastore/label",
            params={"image": f"kv{i}", "tag": "final"},
            files={"label": (server["masks"][i].name, f)},
            timeout=60,
        )
    assert res.status_code == 200, res.text


def test_untrained_model_is_listed_and_refuses_inference(server: dict) -> None:
    import requests

    info = requests.get(f"{server['url']}/info/", timeout=10).json()
    assert info["models"][MODEL]["trained"] is False and info["labels"] == ["polyp"]
    assert MODEL in info["trainers"]
    res = requests.post(f"{server['url']}/infer/{MODEL}", params={"image": "kv0"}, timeout=60)
    assert res.status_code == 409 and "is untrained" in res.json()["detail"], res.text


def test_training_is_refused_without_enough_labels(server: dict) -> None:
    res = _post_train(server, {"max_epochs": 1})
    assert res.status_code == 422 and "at least 2 labelled images" in res.json()["detail"] and "has 0" in res.text
    _label(server, 0)
    res = _post_train(server, {"max_epochs": 1})
    assert res.status_code == 422 and "has 1" in res.json()["detail"]
    assert _post_train(server, {"max_epochs": 1, "val_split": 0}).status_code == 422  # still 1 label
    import requests

    assert requests.post(f"{server['url']}/train/nosuch", json={}, timeout=10).status_code == 404


def test_train_from_scratch_then_serve_without_restart(server: dict) -> None:
    import requests
    from PIL import Image

    from monai_fusion.networks.nets import MFSF2NetSeg

    _label(server, 1)
    _label(server, 2)
    bad = _post_train(server, {"max_epochs": 1, "val_split": 0.0})
    assert bad.status_code == 400 and "val_split" in bad.json()["detail"]
    body = {"max_epochs": 1, "val_split": 0.4, "pretrained": False, "device": "cpu", "multi_gpu": False}
    res = _post_train(server, body)
    assert res.status_code == 200, res.text
    deadline, status = time.monotonic() + TRAIN_TIMEOUT_S, {}
    while time.monotonic() < deadline:
        status = requests.get(f"{server['url']}/train/", timeout=10).json()
        if status.get("status") in ("DONE", "ERROR"):
            break
        time.sleep(2.0)
    assert status.get("status") == "DONE", f"{status}\n{log_tail(server['log'], 80)}"
    weights = server["bundle"] / "models" / "model.pt"
    MFSF2NetSeg(fuse_channels=16, decoder_channels=16).load_state_dict(torch.load(weights, weights_only=True))
    latest = torch.load(next((server["bundle"] / "models").glob("checkpoint_epoch=1.pt")), weights_only=True)
    assert dict(latest["trainer"])["iteration"] >= 1  # batch size 16 shrank to the 2 training pairs: it trained
    info = requests.get(f"{server['url']}/info/", timeout=10).json()
    assert info.get("models", {}).get(MODEL, {}).get("trained") is True, f"{info}\n{log_tail(server['log'], 60)}"
    res = requests.post(f"{server['url']}/infer/{MODEL}", params={"image": "kv3", "output": "image"}, timeout=120)
    assert res.status_code == 200, res.text
    with Image.open(io.BytesIO(res.content)) as mask, Image.open(server["studies"] / "kv3.jpg") as image:
        assert mask.size == image.size
        server["first_mask"] = np.asarray(mask).copy()
    server["first_weights"] = hashlib.sha256(weights.read_bytes()).hexdigest()


def test_train_again_from_those_weights_with_monailabel_client(server: dict) -> None:
    """MONAI Label's own client: one more label, a second training that starts from ``model.pt``, new answers."""
    from fusion_label.client import FusionLabelClient
    from PIL import Image

    from monai_fusion.networks.nets import MFSF2NetSeg

    client = FusionLabelClient(server["url"], tmpdir=str(server["studies"].parent / "client"))
    client.save_label("kv3", str(server["masks"][3]), tag="final")
    log_start = len(server["log"].read_text(errors="replace"))
    client.train_start(MODEL, {"max_epochs": 1, "val_split": 0.5, "device": "cpu", "multi_gpu": False})
    deadline, status = time.monotonic() + TRAIN_TIMEOUT_S, {}
    while time.monotonic() < deadline:
        status = client.train_status()
        if status.get("status") in ("DONE", "ERROR", "STOPPED"):
            break
        time.sleep(1.0)
    assert status.get("status") == "DONE", f"{status}\n{log_tail(server['log'], 80)}"
    progress = status["progress"]
    assert progress["state"] == "completed" and progress["epoch"] == 1 and progress["loss"] > 0, progress
    assert progress["metrics"] and progress["best_metric_epoch"] == 1, progress
    weights = server["bundle"] / "models" / "model.pt"
    log = server["log"].read_text(errors="replace")[log_start:]
    assert f"Add Checkpoint Loader for Path: {weights}" in log  # "pretrained" (default true): from those weights
    assert hashlib.sha256(weights.read_bytes()).hexdigest() != server["first_weights"]
    MFSF2NetSeg(fuse_channels=16, decoder_channels=16).load_state_dict(torch.load(weights, weights_only=True))
    mask_file, answer = client.infer(MODEL, "kv3", {})
    assert answer["label_names"] == {"polyp": 1}
    with Image.open(mask_file) as mask:
        second = np.asarray(mask)
    assert second.shape == server["first_mask"].shape and set(np.unique(second)) <= {0, 1}
    assert not np.array_equal(second, server["first_mask"])  # the new weights answer
