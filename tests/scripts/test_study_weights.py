# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``scripts/study.py --install-weights`` (a run's weights into its bundle's ``models/``) and ``--report``, with
the training replaced by a stand-in so that only the study's own bookkeeping runs."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.scripts.test_study import _rows, study
from tests.utils import REPO_ROOT, require_data


@pytest.fixture
def fake_study(tmp_path, monkeypatch):
    """``run_one`` replaced by a stand-in that writes what a finished run leaves (weights, record, a row)."""
    calls = []

    def run_one(task, model, seed, settings, datalist, out_dir):
        calls.append((task.name, model, seed))
        models = out_dir / "runs" / study.run_name(task.name, model, seed) / "models"
        models.mkdir(parents=True, exist_ok=True)
        torch.save({"weight": torch.full((2,), float(len(calls)))}, models / "model.pt")
        record = {"class_names": datalist["class_names"], "image_size": 96}
        (models / "training_record.json").write_text(json.dumps(record))
        row = {"task": task.name, "model": model, "seed": seed, "status": "ok", **settings}
        row.update(settings_id=study.settings_id(settings), n_train=8, n_val=4, n_test=4, epochs_run=2)
        row.update(best_epoch=2, best_val=0.5, stopped_early=0, train_cpu_s=1.0, train_wall_s=1.0)
        row.update(eval_cpu_s=1.0, eval_wall_s=1.0, test_balanced_accuracy=0.625, finished="2026-12-07 06:00:00 UTC")
        return row

    monkeypatch.setattr(study, "run_one", run_one)
    monkeypatch.setattr(study, "write_markdown", lambda path, rows, env, out_dir: path.write_text("report\n"))
    bundles = tmp_path / "bundles"
    for name in study.MODEL_BUNDLES.values():
        (bundles / name / "configs").mkdir(parents=True)
        shutil.copyfile(
            REPO_ROOT / "bundles" / name / "configs" / "metadata.json", bundles / name / "configs" / "metadata.json"
        )
    # hifuse's copy describes the two COVID-CT classes, so a COVID-CT run of HiFuse fits it; CDFINet's (8 Kvasir
    # v1 classes) does not
    meta = json.loads((bundles / "hifuse" / "configs" / "metadata.json").read_text())
    meta["network_data_format"]["outputs"]["pred"].update(num_channels=2, channel_def={"0": "NonCOVID", "1": "COVID"})
    (bundles / "hifuse" / "configs" / "metadata.json").write_text(json.dumps(meta))
    monkeypatch.setattr(study, "INSTALL_ROOT", bundles)
    data_root = require_data("covid_ct").parent
    argv = ["--tasks", "covid_ct", "--seeds", "0", "--data-root", str(data_root), "--output-dir", str(tmp_path / "s")]
    return argv, calls, bundles, tmp_path / "s"


def test_install_weights_copies_the_run_and_keeps_what_was_there(fake_study, capsys) -> None:
    argv, calls, bundles, out = fake_study
    study.main([*argv, "--models", "hifuse", "--install-weights"])
    dest = bundles / "hifuse" / "models"  # the classes the metadata describes: the bundle's own model.pt
    assert calls == [("covid_ct", "hifuse", 0)]
    assert torch.load(dest / "model.pt", weights_only=True)["weight"].tolist() == [1.0, 1.0]
    text = (dest / "training_record.json").read_text()
    record = json.loads(text)
    assert text == json.dumps(record, indent=4) + "\n"  # the model zoo's JSON style, as the bundle writes it
    assert record["class_names"] == ["NonCOVID", "COVID"]  # what the bundle's inference reads is kept
    assert record["study_run"]["run"] == "covid_ct_hifuse_seed0" and record["study_run"]["seed"] == 0
    assert record["study_run"]["test_balanced_accuracy"] == 0.625
    assert "--install-weights" in record["study_run"]["command"]
    assert "installed covid_ct_hifuse_seed0 (test balanced_accuracy 0.625)" in capsys.readouterr().out

    # again: the run is finished and its weights are there, so nothing trains; the installed files are renamed
    study.main([*argv, "--models", "hifuse", "--install-weights"])
    assert len(calls) == 1
    assert len(list(dest.glob("model.replaced-*.pt"))) == 1 and len(list(dest.glob("training_record.replaced-*")))
    assert "the earlier file is kept as" in capsys.readouterr().out

    # a finished run whose weights were not kept trains again before it is installed
    (out / "runs" / "covid_ct_hifuse_seed0" / "models" / "model.pt").unlink()
    study.main([*argv, "--models", "hifuse", "--install-weights"])
    assert len(calls) == 2 and "its weights were not kept: it runs again" in capsys.readouterr().out
    assert torch.load(dest / "model.pt", weights_only=True)["weight"].tolist() == [2.0, 2.0]
    assert len(_rows(out / "runs.csv")) == 1  # the rerun replaced its row


def test_weights_of_other_classes_go_beside_the_bundles_model(fake_study, capsys) -> None:
    argv, calls, bundles, _ = fake_study
    study.main([*argv, "--models", "cdfinet", "--install-weights"])
    # a COVID-CT CDFINet is not the 8-class Kvasir v1 model cdfinet's metadata (and the zoo's checks) describe
    assert not (bundles / "cdfinet" / "models" / "model.pt").exists()
    assert (bundles / "cdfinet" / "models" / "covid_ct" / "model.pt").is_file()
    assert f"--ckpt_dir {bundles / 'cdfinet' / 'models' / 'covid_ct'}" in capsys.readouterr().out
    assert not study.matches_metadata(bundles / "cdfinet", ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"])
    assert study.matches_metadata(REPO_ROOT / "bundles" / "hifuse", ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"])
    assert study.matches_metadata(REPO_ROOT / "bundles" / "mfsf2net_segmentation", None)


def test_install_weights_refuses_what_it_cannot_install(fake_study) -> None:
    argv, calls, bundles, _ = fake_study
    with pytest.raises(SystemExit):  # a baseline has no bundle
        study.main([*argv, "--models", "densenet121", "--install-weights"])
    with pytest.raises(SystemExit):  # no --models: the baselines would be selected too
        study.main([*argv, "--install-weights"])
    with pytest.raises(SystemExit, match="ONE run into each bundle"):
        study.main([*argv, "--models", "hifuse", "--seeds", "0", "1", "--install-weights"])
    assert calls == [] and not list(bundles.glob("*/models"))


def test_report_covers_every_task_at_its_newest_settings() -> None:
    rows = [
        {"task": "covid_ct", "model": "cdfinet", "seed": "0", "status": "ok", "settings_id": "old", "finished": "1"},
        {"task": "covid_ct", "model": "resnet50", "seed": "0", "status": "ok", "settings_id": "new", "finished": "2"},
        {"task": "ham10000", "model": "cdfinet", "seed": "0", "status": "ok", "settings_id": "a", "finished": "3"},
        {"task": "ham10000", "model": "hifuse", "seed": "0", "status": "failed", "settings_id": "a", "finished": ""},
        {"task": "kvasir_seg", "model": "unet", "seed": "0", "status": "ok", "settings_id": "b", "finished": "4"},
    ]
    chosen = study.report_rows(rows, {("ham10000", "a")})
    assert [(r["task"], r["model"]) for r in chosen] == [
        ("covid_ct", "resnet50"),  # not in this command: the newest settings of that task
        ("ham10000", "cdfinet"),  # this command's settings; failed runs stay in runs.csv only
        ("kvasir_seg", "unet"),
    ]
