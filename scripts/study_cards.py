"""Write the accuracy study's measured numbers into the bundle cards and metadata (issue 16).

Each bundle's ``docs/README.md`` holds, between ``<!-- study:begin -->`` and ``<!-- study:end -->`` in its
Performance section, a block generated from the study's published results (``docs/results/study``: ``runs.csv``,
``results.md`` and ``curves/``): the setting, the test-split table of every task its network ran on beside the
baselines of the same study, the learning curves, the papers' own figures with their source, and the one command
that produces the ``models/model.pt`` the card describes. ``configs/metadata.json`` gets the same test numbers in
``eval_metrics`` (flat ``<task>_test_<metric>`` numbers, the card's model first).

Usage::

    python scripts/study_cards.py            # rewrite the five cards and metadata files from docs/results/study
    python scripts/study_cards.py --check    # exit 1 (and name the files) if they differ from what would be written

Nothing here trains or evaluates: run ``scripts/study.py`` first, copy its ``runs.csv``, ``results.md`` and
``curves/`` into ``docs/results/study`` (``docs/study.md``), then run this.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monai_fusion.data.dermoscopy import HAM10000_CLASSES

REPO_ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"


def _load_study():
    """``scripts/study.py`` as a module (scripts/ is not a package): its task and model tables."""
    spec = importlib.util.spec_from_file_location("monai_fusion_study_script", Path(__file__).with_name("study.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


study = _load_study()


@dataclass(frozen=True)
class Card:
    """What one bundle's card reports.

    Args:
        bundle: folder under ``bundles/``.
        model: the study's model key of the bundle's network.
        weights_task: the study task whose seed-0 run is the ``models/model.pt`` the card describes.
        papers: the papers' own figures, with their source (markdown).
    """

    bundle: str
    model: str
    weights_task: str
    papers: str


CARDS = (
    Card(
        "cdfinet",
        "cdfinet",
        "ham10000",
        "The CDFINet authors' README reports **accuracy 90.47 % and AUC 0.9904 on Kvasir v1** (8 classes, 224 px, "
        "their `train.py`: 400 epochs, batch 16; the split behind the figure is not published) and, in the same "
        "comparison, 85.67 % for HiFuse and 86.63 % for MedMamba re-trained under their protocol. Kvasir v1 is not "
        "in the study's offline data, so no number here is on that dataset.",
    ),
    Card(
        "hifuse",
        "hifuse",
        "ham10000",
        "The HiFuse paper (Huo et al., Biomedical Signal Processing and Control 87, 105534, 2024; arXiv 2209.10218) "
        "states in its abstract only gains over its baseline: **+7.6 % accuracy on ISIC 2018, +21.5 % on Covid-19 and "
        "+10.4 % on Kvasir**; its absolute tables were not available to us, and the authors say those numbers came "
        "from an mmcv pipeline, not their public `train.py`. The CDFINet authors report HiFuse at 85.67 % on Kvasir "
        "v1 under their own protocol.",
    ),
    Card(
        "medmamba",
        "medmamba",
        "ham10000",
        "MedMamba's README reports **78.83 % overall accuracy on Kvasir** (the authors' split); the CDFINet authors "
        "report 86.63 % for MedMamba re-trained under their protocol. Kvasir v1 is not in the study's offline data.",
    ),
    Card(
        "mfsf2net",
        "mfsf2net",
        "ham10000",
        "MFSF2-Net has **no public results**: the paper text is not available and the authors' repository has no "
        "table, so there is nothing to put beside these numbers.",
    ),
    Card(
        "mfsf2net_segmentation",
        "mfsf2net_seg",
        "kvasir_seg",
        "The MFSF2-Net paper publishes **no segmentation numbers**; the decoder of this bundle is a reconstruction.",
    ),
)

# the class names a run of the task is trained on (the datalist builders' order), for weights_folder
WEIGHTS_CLASSES: dict[str, tuple[str, ...] | None] = {"ham10000": HAM10000_CLASSES, "kvasir_seg": None}

CLASSIFICATION_COLUMNS = ("balanced_accuracy", "macro_f1", "macro_auc", "accuracy")
SEGMENTATION_COLUMNS = ("mean_dice", "mean_iou", "hd95", "empty_predictions")


def read_header(results_md: Path) -> dict[str, str]:
    """The ``- **key**: value`` lines at the top of ``results.md`` (date, hardware, software ...)."""
    header = {}
    for line in results_md.read_text().splitlines():
        match = re.match(r"- \*\*(.+?)\*\*: (.*)", line)
        if match:
            header[match.group(1)] = match.group(2).strip("`")
        elif line.startswith("## "):
            break
    return header


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _cell(value: Any, metric: str) -> str:
    number = _num(value)
    if number is None:
        return "—"
    if metric == "empty_predictions":
        return f"{number:.0f}"
    return f"{number:.1f}" if metric == "hd95" else f"{number:.3f}"


def task_rows(rows: Sequence[dict[str, Any]], task: str, seed: int = 0) -> list[dict[str, Any]]:
    """The finished runs of ``task`` with ``seed``, in the study's model order."""
    chosen = [r for r in rows if r["task"] == task and r.get("status") == "ok" and str(r["seed"]) == str(seed)]
    order = list(study.MODELS)
    return sorted(chosen, key=lambda r: order.index(r["model"]))


def eval_metrics(card: Card, rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``metadata.json`` ``eval_metrics``: this network's seed-0 test numbers, the card's task first."""
    tasks = [card.weights_task] + [t for t in study.TASKS if t != card.weights_task]
    metrics: dict[str, float] = {}
    for task in tasks:
        kind = study.TASKS[task].kind
        for row in task_rows(rows, task):
            if row["model"] != card.model:
                continue
            for metric in CLASSIFICATION_COLUMNS if kind == "classification" else SEGMENTATION_COLUMNS:
                number = _num(row.get(f"test_{metric}"))
                if number is not None:
                    suffix = "_px" if metric == "hd95" else ""
                    metrics[f"{task}_test_{metric}{suffix}"] = round(number, 4)
    return metrics


def _stop(row: dict[str, Any]) -> str:
    if _num(row.get("stopped_early")) == 1:
        return f"early stop, {int(_num(row['epochs_run']) or 0)} epochs"
    return f"epoch cap ({int(_num(row['epochs_run']) or 0)})"


def weights_folder(card: Card, bundles: Path | None = None) -> str:
    """Where ``--install-weights`` puts the card's run: ``models`` when its classes are the ones the bundle's
    metadata describes, else ``models/<task>`` (``study.install_weights``)."""
    classes = WEIGHTS_CLASSES.get(card.weights_task)
    if study.matches_metadata((bundles or REPO_ROOT / "bundles") / card.bundle, classes):
        return "models"
    return f"models/{card.weights_task}"


def plateau_note(card: Card, rows: Sequence[dict[str, Any]]) -> str:
    """Whether early stopping (a plateau) or the epoch cap (the budget) ended this network's run and the others'."""
    capped = [r for r in rows if _num(r.get("stopped_early")) != 1]
    mine = next(r for r in rows if r["model"] == card.model)
    if len(capped) == len(rows):
        return (
            "Every run of this task ended at the epoch cap, most with their best epoch near the end: the budget, not "
            "a plateau, ended them, and longer training would likely raise all of these numbers."
        )
    if mine in capped:
        return (
            f"This network ended at the epoch cap with its best epoch at {_num(mine.get('best_epoch')) or 0:.0f}: it "
            "had not plateaued, so its number is at the budget limit, while the runs marked *early stop* had."
        )
    return "This network's validation metric plateaued (early stopping ended the run)."


def card_block(card: Card, rows: Sequence[dict[str, Any]], header: dict[str, str], results_rel: str) -> str:
    """The generated Markdown between the card's markers."""
    mine = [r for r in rows if r["model"] == card.model and r.get("status") == "ok" and str(r["seed"]) == "0"]
    if not mine:
        return (
            "**Not yet measured.** The accuracy study (`scripts/study.py`, the repository's `docs/study.md`) has no "
            "finished run of this network yet."
        )
    first = mine[0]
    own = "this bundle's own `train.json` + `evaluate.json`, with the settings below as overrides"
    recipe = own
    if study.TASKS[first["task"]].kind == "classification" and first["host_bundle"] != card.bundle:
        recipe = (
            f"the `{first['host_bundle']}` bundle's `train.json` + `evaluate.json` with `network_def` swapped to "
            "this bundle's network, so every row of a table has the same recipe (this bundle's own recipe may differ "
            "in learning rate, batch, normalisation and loss weighting: the repository's `docs/study.md`)"
        )
    lines = [
        "Measured by the project's accuracy study (`scripts/study.py`, the repository's `docs/study.md`): every run is "
        f"`python -m monai.bundle run` of {recipe}. Test-split numbers, weights of the best validation epoch.",
        "",
        "**This is not the papers' setting.** The papers train at 224 px or more, usually from ImageNet-pretrained "
        "weights, for hundreds of epochs on GPUs (GPU-days). These runs are from scratch on a CPU at "
        f"{first['image_size']} x {first['image_size']} px, on a {first['n_train']}-image training subset, for at "
        f"most {first['max_epochs']} epochs: they compare networks under one small, stated budget and are not the "
        "accuracy of a fully trained model.",
        "",
        f"- **Setting**: {first['image_size']} x {first['image_size']} px; {first['n_train']} training images (drawn "
        "round-robin over the classes for classification), the full validation and test splits (split seed "
        f"{first['split_seed']}, 0.8 / 0.1 / 0.1, grouped); at most {first['max_epochs']} epochs with early stopping "
        f"after {first['early_stop_patience']} validations without improvement of the validation "
        f"{first['key_metric'].replace('_', ' ')}.",
        "- **Seeds**: one (seed 0). Three seeds did not fit the CPU budget of the study; differences of a few points "
        "between networks are within what another seed could change.",
        f"- **Hardware and software**: {header.get('hardware', 'not recorded')}; {header.get('software', '')}; "
        f"{header.get('date', '')}.",
        "",
    ]
    plots = []
    for task in study.TASKS:
        trs = task_rows(rows, task)
        if not any(r["model"] == card.model for r in trs):
            continue
        kind = study.TASKS[task].kind
        columns = CLASSIFICATION_COLUMNS if kind == "classification" else SEGMENTATION_COLUMNS
        lines += [
            f"**{study.TASKS[task].title}** (test split: {trs[0]['n_test']} images, grouped by "
            f"{study.TASKS[task].split_note}):",
            "",
            "| network | "
            + " | ".join(study.METRIC_TITLES[c] for c in columns)
            + " | best epoch | stopped by | training CPU-min |",
            "|---|" + "---:|" * (len(columns) + 3),
        ]
        for row in trs:
            name = study.MODELS[row["model"]][0]
            name = f"**{name}**" if row["model"] == card.model else name
            cells = [_cell(row.get(f"test_{c}"), c) for c in columns]
            cpu_min = (_num(row.get("train_cpu_s")) or 0.0) / 60
            best = _num(row.get("best_epoch"))
            lines.append(
                f"| {name} | " + " | ".join(cells) + f" | {best:.0f} | {_stop(row)} | {cpu_min:.1f} |"
                if best is not None
                else f"| {name} | " + " | ".join(cells) + f" | — | {_stop(row)} | {cpu_min:.1f} |"
            )
        lines.append("")
        lines += [plateau_note(card, trs), ""]
        plots.append(f"[{task}]({results_rel}/curves/{study.run_name(task, card.model, 0)}.png)")
        lines += [f"![{study.TASKS[task].title}: validation curves]({results_rel}/curves/{task}_comparison.png)", ""]
    if any(r["task"] == "kvasir_seg" for r in mine):
        lines += [
            "HD95 counts an image whose prediction is empty while its label is not as the image diagonal "
            "(the policy below); *Empty preds* says how many test images that was.",
            "",
        ]
    lines += [
        "Learning curves (loss, validation metrics, CPU time per epoch) of this network: "
        + ", ".join(plots)
        + f"; all runs, the equal-epoch and equal-CPU-time comparisons: `{results_rel}/results.md`.",
        "",
        f"**The papers' figures** (their setting, not comparable with the table): {card.papers}",
        "",
    ]
    weights = [r for r in mine if r["task"] == card.weights_task]
    if weights:
        row = weights[0]
        metric = "balanced_accuracy" if study.TASKS[row["task"]].kind == "classification" else "mean_dice"
        folder = weights_folder(card)
        own = folder == "models"
        lines += [
            f"**The weights this card describes** are the {study.TASKS[row['task']].title} run above (test "
            f"{metric.replace('_', ' ')} {_cell(row.get(f'test_{metric}'), metric)}, the numbers in "
            "`configs/metadata.json` `eval_metrics`). From the repository root, with the data in `../shared/data` "
            "(or `--data-root`), this command trains it (about "
            f"{(_num(row.get('train_cpu_s')) or 0) / 60:.0f} CPU-minutes on the study's machine, outputs in "
            f"`../study_results`) and copies its `model.pt` and `training_record.json` into this bundle's `{folder}/` "
            "(files already there are renamed, not overwritten)"
            + (
                "; `python scripts/release.py bundle bundles/" + card.bundle + "` then packs them into the bundle zip "
                "(for a model-zoo pull request add `--weights-url URL` of the uploaded `model.pt`: the zoo keeps "
                "files over 1 MiB out of its repository, in `large_files.yml`):"
                if own
                else ":"
            ),
            "",
            "```",
            f"python scripts/study.py --tasks {row['task']} --models {card.model} --seeds 0 --install-weights",
            "```",
            "",
        ]
        if not own:
            lines += [
                f"Its classes ({study.TASKS[row['task']].title}) are not the ones this bundle's `metadata.json` "
                f"describes, so it goes to `{folder}/` and not to `models/model.pt`, which the bundle zip carries and "
                "the model zoo's checks compare with the metadata. A `models/model.pt` for this bundle's own "
                "dataset comes from its own training (`python -m monai.bundle run training --config_file "
                "configs/train.json`, which fetches the dataset; not run here, the data is not available offline). "
                f"Inference and evaluation take these weights with `--ckpt_dir bundles/{card.bundle}/{folder}`.",
                "",
            ]
        ckpt = "" if own else f" --ckpt_dir bundles/{card.bundle}/{folder}"
        lines += [
            "With those weights installed, this bundle's own evaluation on the study's test split gives the numbers "
            "above again (the training record carries the image size, normalisation and class names; the split is "
            "the datalist the study wrote):",
            "",
            "```",
            f"python -m monai.bundle run evaluating --config_file \"['bundles/{card.bundle}/configs/train.json',"
            f"'bundles/{card.bundle}/configs/evaluate.json']\" --datalist ../study_results/datalists/"
            f"{row['task']}_split{row['split_seed']}.json{ckpt}",
            "```",
            "",
            "The run folder's `commands.sh` holds the two plain `python -m monai.bundle run` commands it ran.",
        ]
    return "\n".join(lines)


def summary_block(rows: Sequence[dict[str, Any]], header: dict[str, str], results_rel: str) -> str:
    """The repository README's block: per task, every network's seed-0 test numbers and how its run ended."""
    lines = [
        f"Published study ({header.get('date', '')}; {header.get('hardware', '')}; {header.get('software', '')}): "
        "seed 0, from scratch, test splits, the rest of the setting in each bundle card's Performance section and in "
        f"[{results_rel}/results.md]({results_rel}/results.md) (equal-epoch and equal-CPU comparisons, learning "
        "curves). **Not the papers' setting** (224 px, ImageNet-pretrained, GPU-days); one seed.",
        "",
    ]
    for task in study.TASKS:
        trs = task_rows(rows, task)
        if not trs:
            continue
        kind = study.TASKS[task].kind
        columns = CLASSIFICATION_COLUMNS[:3] if kind == "classification" else SEGMENTATION_COLUMNS
        lines += [
            f"{study.TASKS[task].title} ({trs[0]['image_size']} px, {trs[0]['n_train']} training images, "
            f"{trs[0]['n_test']} test images):",
            "",
            "| network | " + " | ".join(study.METRIC_TITLES[c] for c in columns) + " | stopped by | training CPU-min |",
            "|---|" + "---:|" * (len(columns) + 2),
        ]
        for row in trs:
            cells = [_cell(row.get(f"test_{c}"), c) for c in columns]
            cpu_min = (_num(row.get("train_cpu_s")) or 0.0) / 60
            name = study.MODELS[row["model"]][0]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {_stop(row)} | {cpu_min:.1f} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def render(name: str, readme: str, block: str) -> str:
    """``readme`` with its study block (between :data:`BEGIN` and :data:`END`) replaced."""
    start, stop = readme.find(BEGIN), readme.find(END)
    if start < 0 or stop < start:
        raise SystemExit(f"{name} has no {BEGIN} ... {END} block: put one where the study's numbers belong.")
    return readme[: start + len(BEGIN)] + "\n" + block + "\n" + readme[stop:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "docs" / "results" / "study")
    parser.add_argument("--bundles", type=Path, default=REPO_ROOT / "bundles", help="the bundles folder")
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md", help="the repository README")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a card or metadata is stale")
    args = parser.parse_args(argv)
    rows = study.read_rows(args.results / "runs.csv")
    if not rows:
        raise SystemExit(f"no runs in {args.results / 'runs.csv'}: run scripts/study.py and copy its results first.")
    header = read_header(args.results / "results.md")
    stale = []
    for card in CARDS:
        folder = args.bundles / card.bundle
        readme_path, meta_path = folder / "docs" / "README.md", folder / "configs" / "metadata.json"
        try:
            results_rel = Path(args.results.resolve()).relative_to(REPO_ROOT).as_posix()
            results_rel = "../../../" + results_rel  # from bundles/<b>/docs/
        except ValueError:
            results_rel = str(args.results.resolve())
        readme = readme_path.read_text()
        new_readme = render(str(readme_path), readme, card_block(card, rows, header, results_rel))
        meta = json.loads(meta_path.read_text())
        new_meta = dict(meta)
        new_meta["eval_metrics"] = eval_metrics(card, rows)
        meta_text = json.dumps(new_meta, indent=4, ensure_ascii=False) + "\n"
        for path, old, new in ((readme_path, readme, new_readme), (meta_path, meta_path.read_text(), meta_text)):
            if old != new:
                stale.append(path)
                if not args.check:
                    path.write_text(new)
    readme_path = args.readme
    try:
        results_rel = Path(args.results.resolve()).relative_to(REPO_ROOT).as_posix()
    except ValueError:
        results_rel = str(args.results.resolve())
    readme = readme_path.read_text()
    new_readme = render(str(readme_path), readme, summary_block(rows, header, results_rel))
    if readme != new_readme:
        stale.append(readme_path)
        if not args.check:
            readme_path.write_text(new_readme)
    if args.check and stale:
        print("out of date with " + str(args.results / "runs.csv") + ":\n  " + "\n  ".join(map(str, stale)))
        print("Run `python scripts/study_cards.py` to rewrite them, and commit the result.")
        return 1
    print(
        ("checked" if args.check else "wrote")
        + f" {len(CARDS)} cards and metadata files and the README"
        + (f" ({len(stale)} changed)" if not args.check else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
