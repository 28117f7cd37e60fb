# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Active learning of a classification bundle with MONAI Label's own client, over HTTP, on real HAM10000 images.

One real server (``serve.py`` on 127.0.0.1) serves a tiny copy of ``medmamba`` *without weights*, its class names
set to the 7 HAM10000 diagnoses (``class_names``, as for any class-folder dataset), over an empty studies folder. The
tests run in file order and drive it with :class:`fusion_label.client.FusionLabelClient` (a ``MONAILabelClient``):
upload 5 images; ``/info/`` says untrained, inference answers 409; class labels (``{"label": "<class name>"}`` JSON
files) are saved with ``save_label``; bad label files and unknown class names are refused with the valid names;
training from scratch ends ``DONE`` with a ``model.pt`` that loads strictly and changes the answer; a second training
starts from those weights; a long training shows its progress in ``/train/`` and stops on ``DELETE /train/``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.apps.label_server import log_tail, running_server
from tests.apps.test_monailabel_train import import_monailabel
from tests.bundles.classification_cases import TINY_NETWORKS
from tests.utils import require_data

pytestmark = [
    pytest.mark.data,
    pytest.mark.bundle,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

MODEL = "medmamba"
HAM_CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
#: diagnoses of the images uploaded (the first images of each in HAM10000_metadata.csv); the last is left unlabelled.
PICK = ("nv", "nv", "mel", "mel", "bkl")
TRAIN_TIMEOUT_S = 300.0
TRAIN = {"max_epochs": 1, "val_split": 0.5, "device": "cpu", "multi_gpu": False}


def _images() -> list[tuple[Path, str]]:
    ham = require_data("ham10000")
    with open(ham / "HAM10000_metadata.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["image_id"])
    picked: list[tuple[Path, str]] = []
    for dx in PICK:
        row = next(r for r in rows if r["dx"] == dx and all(p.stem != r["image_id"] for p, _ in picked))
        picked.append((ham / "images" / f"{row['image_id']}.jpg", dx))
    return picked


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    import_monailabel()
    from fusion_label.client import FusionLabelClient

    from tests.apps.label_bundles import make_tiny_bundle, rewrite_config

    images = _images()
    root = tmp_path_factory.mktemp("label_classification")
    bundle = make_tiny_bundle(MODEL, root / "bundles", weights=False)
    # batch size 16 > the labels; class-weighted loss (as hifuse, mfsf2net) with 2 of the 7 classes labelled
    train = {"class_names": HAM_CLASSES, "train_batch_size": 16, "imbalance": "weighted_loss"}
    rewrite_config(bundle / "configs" / "train.json", train)
    rewrite_config(bundle / "configs" / "inference.json", {"default_class_names": HAM_CLASSES})
    studies = root / "studies"
    studies.mkdir()
    with running_server(root, studies, (MODEL,), root / "bundles") as srv:
        client = FusionLabelClient(srv["url"], tmpdir=str(root / "client"))
        yield {**srv, "bundle": bundle, "images": images, "client": client, "root": root, "answers": {}}
    shutil.rmtree(root, ignore_errors=True)  # checkpoints: the suite must not fill the disk


def _label_file(server: dict, content: object) -> str:
    path = server["root"] / "label.json"
    path.write_text(json.dumps(content))
    return str(path)


def _refused(call, status: int, *words: str) -> None:
    from monailabel.client.client import MONAILabelClientException

    with pytest.raises(MONAILabelClientException) as err:
        call()
    assert f"Status: {status};" in err.value.msg and all(w in err.value.msg for w in words), err.value.msg


def _train(server: dict, params: dict) -> dict:
    """Start a training with the client and wait until it ends; returns the final status."""
    client = server["client"]
    client.train_start(MODEL, params)
    deadline, status = time.monotonic() + TRAIN_TIMEOUT_S, {}
    while time.monotonic() < deadline:
        status = client.train_status()
        if status.get("status") in ("DONE", "ERROR", "STOPPED"):
            break
        time.sleep(1.0)
    assert status.get("status") == "DONE", f"{status}\n{log_tail(server['log'], 80)}"
    return status


def _scores(server: dict, image_id: str) -> list[tuple[str, float]]:
    _, answer = server["client"].infer(MODEL, image_id, {})
    return [(p["label"], p["score"]) for p in answer["prediction"]]


def _tiny_net() -> torch.nn.Module:
    """The tiny MedMamba of the bundle copy (``TINY_NETWORKS["medmamba"]``), one output per HAM10000 class."""
    from monai_fusion.networks.nets import medmamba_tiny

    tiny = {k.split("#")[-1]: v for k, v in TINY_NETWORKS[MODEL].items()}
    return medmamba_tiny(spatial_dims=2, in_channels=3, out_channels=len(HAM_CLASSES), **tiny)


def _weights(server: dict) -> str:
    """The sha256 of ``models/model.pt``, after loading it strictly into the tiny MedMamba."""
    path = server["bundle"] / "models" / "model.pt"
    _tiny_net().load_state_dict(torch.load(path, weights_only=True))  # strict: every tensor, nothing else
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_upload_untrained_model_lists_class_names_and_refuses_inference(server: dict) -> None:
    client = server["client"]
    for i, (path, _) in enumerate(server["images"]):
        client.upload_image(str(path), image_id=f"ham{i}")
    assert sorted(client.datastore()["objects"]) == [f"ham{i}" for i in range(len(PICK))]
    info = client.info()
    model = info["models"][MODEL]
    assert model["trained"] is False and model["type"] == "classification"
    assert model["labels"] == {name: i for i, name in enumerate(HAM_CLASSES)}
    assert MODEL in info["trainers"] and info["labels"] == []  # no segment names for a viewer
    _refused(lambda: client.infer(MODEL, "ham0", {}), 409, "is untrained")


def test_class_labels_are_checked_and_training_needs_two(server: dict) -> None:
    client = server["client"]
    _refused(lambda: client.train_start(MODEL, TRAIN), 422, "at least 2 labelled images", "has 0")
    _refused(lambda: client.save_label("ham0", _label_file(server, {"class": "nv"}), tag="final"), 422, "image 'ham0'")
    _refused(lambda: client.save_label("ham0", _label_file(server, ["nv"]), tag="final"), 422, "class label is a JSON")
    client.save_label("ham0", _label_file(server, {"label": "nv"}), tag="final")
    _refused(lambda: client.train_start(MODEL, TRAIN), 422, "has 1")
    client.save_label("ham1", _label_file(server, {"label": "naevus"}), tag="final")  # valid JSON, unknown class
    _refused(lambda: client.train_start(MODEL, TRAIN), 422, "unknown class name 'naevus'", "'ham1'", "'nv'", "'vasc'")
    for i, (_, dx) in enumerate(server["images"][:4]):
        client.save_label(f"ham{i}", _label_file(server, {"label": dx.upper() if i == 3 else dx}), tag="final")
    labels = server["root"] / "studies" / "labels" / "final"
    assert sorted(p.name for p in labels.iterdir()) == [f"ham{i}.json" for i in range(4)]
    assert json.loads((labels / "ham2.json").read_text()) == {"label": "mel"}


def test_train_from_scratch_then_serve_the_new_weights(server: dict) -> None:
    # the answer of an untrained (randomly initialised) network, its weights copied in as the 409 message suggests
    torch.manual_seed(1)
    (server["bundle"] / "models").mkdir(exist_ok=True)
    torch.save(_tiny_net().state_dict(), server["bundle"] / "models" / "model.pt")
    untrained = _scores(server, "ham4")
    assert [name for name, _ in untrained] == HAM_CLASSES
    before = _weights(server)

    status = _train(server, {**TRAIN, "pretrained": False})  # from scratch; train_batch_size 16 > 2 labels
    progress = status["progress"]
    assert progress["state"] == "completed" and progress["epoch"] == progress["max_epochs"] == 1, progress
    assert progress["loss"] > 0 and "val_accuracy" in progress["metrics"], progress
    after = _weights(server)
    assert after != before
    trained = _scores(server, "ham4")  # no restart: the server reloads the weights
    assert [name for name, _ in trained] == HAM_CLASSES
    assert trained != untrained and sum(s for _, s in trained) == pytest.approx(1.0, abs=1e-4)
    server["answers"]["first"], server["answers"]["weights"] = trained, after


def test_train_again_from_those_weights(server: dict) -> None:
    log_start = len(server["log"].read_text(errors="replace"))
    _train(server, TRAIN)  # "pretrained" defaults to true: starts from models/model.pt
    log = server["log"].read_text(errors="replace")[log_start:]
    assert f"Add Checkpoint Loader for Path: {server['bundle'] / 'models' / 'model.pt'}" in log
    after = _weights(server)
    assert after != server["answers"]["weights"]
    assert _scores(server, "ham4") != server["answers"]["first"]


def test_progress_is_visible_while_training_and_stop_works(server: dict) -> None:
    import requests

    client = server["client"]
    client.train_start(MODEL, {**TRAIN, "max_epochs": 100})
    deadline, status = time.monotonic() + TRAIN_TIMEOUT_S, {}
    while time.monotonic() < deadline:
        status = client.train_status()
        progress = status.get("progress") or {}
        if status.get("status") not in ("SUBMITTED", "RUNNING") or progress.get("metrics"):
            break
        time.sleep(0.5)
    assert status.get("status") == "RUNNING", f"{status}\n{log_tail(server['log'], 80)}"
    progress = status["progress"]
    assert progress["state"] == "running" and progress["max_epochs"] == 100 and progress["epoch"] >= 1, progress
    assert progress["loss"] > 0 and 0.0 <= progress["metrics"]["val_accuracy"] <= 1.0, progress
    busy = requests.post(f"{server['url']}/train/{MODEL}", json=TRAIN, timeout=30)
    assert busy.status_code == 429 and "DELETE /train/" in busy.json()["detail"]
    stopped = client.train_stop()
    assert stopped["status"] == "STOPPED"
    assert client.train_status()["status"] == "STOPPED"
    assert client.train_status(check_if_running=True) is False  # no training process left
