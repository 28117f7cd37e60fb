# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Class labels in the datastore, class names of a bundle, and the training progress file (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apps.test_monailabel_train import import_monailabel
from tests.utils import REPO_ROOT

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_class_label_files_and_names(tmp_path: Path) -> None:
    import_monailabel()
    from fusion_label.labels import bundle_class_names, class_index, is_class_label, read_class_label
    from fusion_label.security import RequestRefusedError

    good = tmp_path / "a.json"
    good.write_text('{"label": " nv "}')
    assert is_class_label(good) and is_class_label("X.JSON") and not is_class_label("mask.png")
    assert read_class_label(good) == "nv"
    cases = {
        "b.json": (b'{"label": ""}', "holds"),
        "c.json": (b'["nv"]', "holds"),
        "d.json": (b"nv", "not valid JSON"),
        "e.json": (b"\xff\xfe", "not valid JSON"),
        "f.json": (b'{"label": "' + b"x" * 5000 + b'"}', "5013 bytes"),
    }
    for name, (content, words) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(RequestRefusedError, match=words) as err:
            read_class_label(tmp_path / name)
        assert err.value.status_code == 422 and f"'{name}'" in err.value.reason
    names = ["akiec", "bcc", "nv"]
    assert class_index("nv", names) == 2 and class_index("NV", names) == 2
    unknown = r"unknown class name 'naevus' \(image 'x'\).*\['akiec', 'bcc', 'nv'\]"
    with pytest.raises(RequestRefusedError, match=unknown):
        class_index("naevus", names, "x")
    # record (what the weights were trained with), then train.json, then metadata.json's channel_def
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "metadata.json").write_text((REPO_ROOT / "bundles/hifuse/configs/metadata.json").read_text())
    assert bundle_class_names(bundle) == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert bundle_class_names(bundle, {"class_names": ["a", "b"]}) == ["a", "b"]
    (bundle / "models").mkdir()
    (bundle / "models" / "training_record.json").write_text(json.dumps({"class_names": ["c", "d", "e"]}))
    assert bundle_class_names(bundle, {"class_names": ["a", "b"]}) == ["c", "d", "e"]
    assert bundle_class_names(bundle, {"class_names": ["a", "b"]}, use_record=False) == ["a", "b"]


def test_datastore_keeps_class_labels_and_lists_json_only_as_labels(tmp_path: Path) -> None:
    import_monailabel()
    from fusion_label.datastore import FusionDatastore
    from fusion_label.security import RequestRefusedError
    from PIL import Image

    studies = tmp_path / "studies"
    studies.mkdir()
    Image.new("RGB", (8, 8)).save(studies / "img1.png")
    (studies / "notes.json").write_text('{"label": "nv"}')  # a JSON file among the images is not an image
    store = FusionDatastore(str(studies), auto_reload=False)
    assert store.list_images() == ["img1"]
    label = tmp_path / "upload.json"
    label.write_text('{"label": "mel"}')
    store.save_label("img1", str(label), "final", {})
    assert [Path(d["label"]).name for d in store.datalist()] == ["img1.json"]
    label.write_text("{}")
    with pytest.raises(RequestRefusedError, match="the label file of image 'img1' holds {}"):
        store.save_label("img1", str(label), "final", {})
    # a fresh datastore over the same folder finds the class label again (the label folders list *.json)
    (studies / "datastore_v2.json").unlink()  # MONAI Label's record of the datastore: rebuilt from the files
    again = FusionDatastore(str(studies), auto_reload=False)
    assert [Path(d["label"]).name for d in again.datalist()] == ["img1.json"]
    assert json.loads(Path(again.datalist()[0]["label"]).read_text()) == {"label": "mel"}


def test_progress_file_is_written_per_iteration_and_epoch(tmp_path: Path) -> None:
    import_monailabel()
    import torch
    from fusion_label.progress import TrainingProgress, read_progress
    from ignite.engine import Engine, Events

    losses = iter([3.0, 2.0, 1.0, 0.5])
    trainer = Engine(lambda engine, batch: {"loss": torch.tensor(next(losses))})
    validator = Engine(lambda engine, batch: None)
    validator.state.best_metric, validator.state.best_metric_epoch = -1, -1
    seen: list[dict] = []
    path = tmp_path / "p" / "progress.json"
    TrainingProgress(str(path), model="m", validator=validator).attach(trainer)

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:  # a validation round (attached after the progress handler)
        validator.state.metrics = {"val_accuracy": 0.25 * engine.state.epoch, "val_macro_auc": float("nan")}
        validator.state.best_metric, validator.state.best_metric_epoch = 0.25 * engine.state.epoch, engine.state.epoch

    @trainer.on(Events.ITERATION_COMPLETED)
    def record(engine: Engine) -> None:
        seen.append(read_progress(path))

    assert read_progress(path) is None
    trainer.run([0, 1], max_epochs=2)
    expected = [(1, 1, 3.0), (1, 2, 2.0), (2, 3, 1.0), (2, 4, 0.5)]
    assert [(p["epoch"], p["iteration"], p["loss"]) for p in seen] == expected
    assert seen[0]["metrics"] == {} and seen[0]["best_metric"] is None and seen[0]["state"] == "running"
    final = read_progress(path)
    assert final["state"] == "completed" and final["epoch"] == final["max_epochs"] == 2 and final["model"] == "m"
    assert final["metrics"] == {"val_accuracy": 0.5} and final["best_metric"] == 0.5 and final["best_metric_epoch"] == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["progress.json"]  # no temporary file left
