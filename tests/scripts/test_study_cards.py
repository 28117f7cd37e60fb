# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""``scripts/study_cards.py``: the bundle cards and ``metadata.json`` carry the study's published numbers."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys

from tests.utils import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "study_cards.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("monai_fusion_study_cards_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cards = _load_script()
BUNDLES = [c.bundle for c in cards.CARDS]


def test_committed_cards_and_metadata_agree_with_the_published_study() -> None:
    # fails when docs/results/study/runs.csv changes without `python scripts/study_cards.py`
    assert cards.main(["--check"]) == 0


def test_every_bundle_card_carries_numbers_and_the_weights_command() -> None:
    for card in cards.CARDS:
        readme = (REPO_ROOT / "bundles" / card.bundle / "docs" / "README.md").read_text()
        block = readme[readme.index(cards.BEGIN) : readme.index(cards.END)]
        assert readme.index("## Performance") < readme.index(cards.BEGIN), card.bundle
        assert "not the papers' setting" in block and "papers' figures" in block, card.bundle
        command = f"python scripts/study.py --tasks {card.weights_task} --models {card.model} --seeds 0"
        assert command + " --install-weights" in block, card.bundle
        metadata = json.loads((REPO_ROOT / "bundles" / card.bundle / "configs" / "metadata.json").read_text())
        first = next(iter(metadata["eval_metrics"]))
        assert first.startswith(card.weights_task + "_test_"), card.bundle
        assert all(isinstance(v, float) for v in metadata["eval_metrics"].values()), card.bundle


def _study_folder(tmp_path, rows):
    results = tmp_path / "results"
    results.mkdir(parents=True)
    columns = list(cards.study.CSV_COLUMNS)
    with open(results / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in columns} for r in rows)
    (results / "results.md").write_text(
        "# Accuracy study\n\n- **date**: 2026-12-07 06:00 UTC\n- **hardware**: a test CPU\n- **software**: torch X\n"
    )
    shutil.copyfile(REPO_ROOT / "README.md", tmp_path / "README.md")
    bundles = tmp_path / "bundles"
    for name in BUNDLES:
        for part in ("docs/README.md", "configs/metadata.json"):
            (bundles / name / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / "bundles" / name / part, bundles / name / part)
    return results, bundles


def _row(task, model, **metrics):
    row = {"task": task, "model": model, "seed": 0, "status": "ok", "host_bundle": "hifuse", "image_size": 64}
    row.update(n_train=100, n_test=50, max_epochs=7, early_stop_patience=2, key_metric="balanced_accuracy")
    row.update(split_seed=0, epochs_run=5, best_epoch=3, stopped_early=1, train_cpu_s=120.0)
    row.update({f"test_{k}": v for k, v in metrics.items()})
    return row


def test_cards_are_written_from_runs_csv_and_checked(tmp_path, capsys) -> None:
    rows = [
        _row("ham10000", "hifuse", balanced_accuracy=0.4321, macro_f1=0.3, macro_auc=0.8, accuracy=0.5),
        _row("ham10000", "densenet121", balanced_accuracy=0.3999, macro_f1=0.2, macro_auc=0.7, accuracy=0.45),
        _row("covid_ct", "hifuse", balanced_accuracy=0.61, macro_f1=0.6, macro_auc=0.65, accuracy=0.62),
        {**_row("kvasir_seg", "mfsf2net_seg", mean_dice=0.55, mean_iou=0.4, hd95=80.25, empty_predictions=2)},
    ]
    results, bundles = _study_folder(tmp_path, rows)
    argv = ["--results", str(results), "--bundles", str(bundles), "--readme", str(tmp_path / "README.md")]
    assert cards.main([*argv, "--check"]) == 1  # the copies still hold the repository's numbers
    assert cards.main(argv) == 0
    assert cards.main([*argv, "--check"]) == 0  # written: now they agree

    hifuse = (bundles / "hifuse" / "docs" / "README.md").read_text()
    assert "| **HiFuse-S (hifuse bundle's network)** | 0.432 | 0.300 | 0.800 | 0.500 | 3 | early stop, 5 epochs |" in (
        hifuse
    )
    assert "| DenseNet121 (MONAI, baseline) | 0.400 |" in hifuse  # the baseline of the same study beside it
    assert "64 x 64 px" in hifuse and "at most 7 epochs" in hifuse and "a test CPU" in hifuse
    assert hifuse.count(cards.BEGIN) == 1 and "## MONAI Bundle Commands" in hifuse  # the rest is untouched
    metrics = json.loads((bundles / "hifuse" / "configs" / "metadata.json").read_text())["eval_metrics"]
    assert list(metrics)[:2] == ["ham10000_test_balanced_accuracy", "ham10000_test_macro_f1"]
    assert metrics["ham10000_test_balanced_accuracy"] == 0.4321 and metrics["covid_ct_test_accuracy"] == 0.62

    seg = json.loads((bundles / "mfsf2net_segmentation" / "configs" / "metadata.json").read_text())["eval_metrics"]
    assert seg == {
        "kvasir_seg_test_mean_dice": 0.55,
        "kvasir_seg_test_mean_iou": 0.4,
        "kvasir_seg_test_hd95_px": 80.25,
        "kvasir_seg_test_empty_predictions": 2.0,
    }
    summary = (tmp_path / "README.md").read_text()
    assert "| HiFuse-S (hifuse bundle's network) | 0.432 | 0.300 | 0.800 | early stop, 5 epochs | 2.0 |" in summary
    assert "| MFSF2NetSeg (segmentation bundle's network) | 0.550 | 0.400 | 80.2 | 2 |" in summary
    medmamba = (bundles / "medmamba" / "docs" / "README.md").read_text()
    assert "Not yet measured" in medmamba  # no run of MedMamba in this study: said, not invented
    assert json.loads((bundles / "medmamba" / "configs" / "metadata.json").read_text())["eval_metrics"] == {}

    rows[0]["test_balanced_accuracy"] = 0.5
    results, _ = _study_folder(tmp_path / "again", rows)
    assert cards.main([*argv[:1], str(results), *argv[2:], "--check"]) == 1
    assert "python scripts/study_cards.py" in capsys.readouterr().out.strip().splitlines()[-1]


def test_weights_go_to_models_only_where_the_metadata_describes_their_classes() -> None:
    folders = {card.bundle: cards.weights_folder(card) for card in cards.CARDS}
    assert folders == {
        "cdfinet": "models/ham10000",  # the bundle describes the 8 Kvasir v1 classes
        "hifuse": "models",
        "medmamba": "models/ham10000",
        "mfsf2net": "models",
        "mfsf2net_segmentation": "models",
    }
