# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Every command of the README, the bundle model cards and docs/{sharing,monailabel,bundles,ct}.md, run as written.

The commands are read from the fenced blocks of the Markdown files (``tests/documented_commands.py``). Each one is
in :data:`COMMANDS` (or, for the MONAI Label session transcripts of docs/monailabel.md, in :data:`FAMILIES`): either
it runs here (``RUN``), or the entry says why not and which test or step covers it instead.
A documented command missing from the table fails :func:`test_every_documented_command_is_accounted_for`, so new
documentation cannot go untested silently; a table entry no document has any more fails it too.

How the runnable ones run:

* **Verbatim, plus appended small-data overrides.** The documented text is kept; options are only *appended*
  (``python -m monai.bundle`` keeps the last value of a repeated option): a few items, 32 px (64 px for the
  segmentation bundle), one epoch, the tiny widths of ``TINY_NETWORKS``. Placeholder paths (``/data/...``,
  ``/path/to/images``, ``path/to/images``, ``/tmp/...``) become small real inputs made in a temporary folder from
  ``../shared/data`` (3-5 images per class, 10 Kvasir-SEG pairs). Setup steps the documents describe in prose (the
  ``prepare`` that writes a datalist a command names) run the same way.
* **Outside the checkout.** Bundle-card commands run from a temporary copy of the bundle's git-tracked files, as in
  the model zoo; README and docs commands that say "from the repository root" run from a temporary copy of the
  repository's tracked files, with ``../shared/data`` linked beside it. ``HOME`` is a temporary folder, so
  ``~/.cache/monai_fusion`` (datalists, zips, and the catalogue's dataset folder, which holds the small stand-ins of
  the default datasets: the "download the default dataset" commands find it and download nothing). The test checks
  that ``git status`` of the checkout is the same before and after.
* **One interpreter per group.** Each group (README, cdfinet card, segmentation card, other cards) runs in one fresh
  ``python`` that executes its commands one after another as ``python`` would (``runpy`` with ``sys.argv`` set to the
  words bash makes of the command); a fresh interpreter per command would cost ~10 s of imports each on the
  project's busy 2-core machine.
* **Shared commands once.** The four classification cards share their command section word for word; the cdfinet
  card runs in full, the hifuse, medmamba and mfsf2net cards only for the commands whose text differs from cdfinet's
  (their own data examples). Those bundles' train / evaluate / infer / export paths are run through ``ConfigWorkflow``
  by ``tests/bundles/test_classification_bundles.py``. The segmentation card runs in full (marked ``slow``: its
  ResNet-50 + PVTv2 encoder has no tiny form).

Each run command must exit 0 and leave a concrete result (a file, a line of output). Two routes have their own test
because they once failed: ``monai.bundle.load`` of a zip packed by ``release.py bundle`` / ``bundle_zip --include
models/model.pt`` must get every trained weight (the zip carries ``training_record.json``), and segmentation inference
on a folder of symbolic links must write its masks under ``eval/inference``.

Wall time on the project's busy 2-core machine: 1 min 40 s to 2 min 35 s (depending on the load) without the
``slow`` segmentation card, about 50 s more with it. Set ``MONAI_FUSION_KEEP_DOC_RUNS=1`` to keep the temporary
folder (logs in ``plan_<group>/<n>.log``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.bundles.classification_cases import TINY_NETWORKS
from tests.documented_commands import DocCommand, extract_commands, shell_words
from tests.utils import REPO_ROOT, require_data

pytestmark = [pytest.mark.bundle, pytest.mark.data]

DRIVER = Path(__file__).with_name("documented_commands.py")
RUN = "RUN"
CLASSIFICATION = ("cdfinet", "hifuse", "medmamba", "mfsf2net")


def documents() -> list[Path]:
    """The Markdown files whose commands are checked."""
    return [
        REPO_ROOT / "README.md",
        *sorted(REPO_ROOT.glob("bundles/*/docs/README.md")),
        *(REPO_ROOT / "docs" / name for name in ("sharing.md", "monailabel.md", "bundles.md", "ct.md")),
    ]


def documented_commands() -> list[DocCommand]:
    return [c for path in documents() for c in extract_commands(path, REPO_ROOT)]


_LABEL = "not run here: needs a running MONAI Label server; tests/apps/test_monailabel_*.py start the real server"
_LABEL_CURL = "not run here: a request to a running MONAI Label server; tests/apps/test_monailabel_*.py send it"
_PIP = "not run here: installs into an environment; .ci/run runs the README's install commands in a fresh venv"
_NET = "not run here: needs the internet"
_DIST = (
    "not run here: multi-process (gloo) training; zoo_tests/test_<bundle>_dist.py and "
    "tests/bundles/test_classification_multi_gpu.py run it with torchrun"
)
_CT_BY_HAND = (
    "not run here: full-size network on the real CT volumes; run verbatim from the repository root for docs/ct.md, "
    "whose outputs are that run's"
)
_BUILD = "not run here: builds the wheel (about a minute); tests/release/test_build.py runs release.py dist"

#: every documented command (normalised) -> RUN, or why it does not run here and what covers it instead
COMMANDS: dict[str, str] = {
    # README.md
    "python -m monai_fusion.data prepare ham10000 --dataset-dir ../shared/data/ham10000": RUN,
    "python -m monai.bundle run training --config_file bundles/hifuse/configs/train.json --datalist "
    "~/.cache/monai_fusion/datalists/ham10000.json": RUN,
    "python -m monai.bundle run evaluating --config_file \"['bundles/hifuse/configs/train.json',"
    "'bundles/hifuse/configs/evaluate.json']\" --datalist ~/.cache/monai_fusion/datalists/ham10000.json": RUN,
    "python -m monai.bundle run --config_file bundles/hifuse/configs/inference.json --dataset_dir path/to/images": RUN,
    "python -m monai.bundle run training --config_file bundles/cdfinet/configs/train.json --dataset_dir "
    "../shared/data/chest_xray_pneumonia --class_names \"['NORMAL','PNEUMONIA']\" --group_pattern "
    '"^(person\\d+|IM-\\d+|NORMAL2-IM-\\d+)" --max_train_items 64 --max_val_items 32 --image_size 64 '
    "--max_epochs 2": RUN,
    'pip install -e ".[dev,label]" -c constraints.txt': _PIP,
    "pip install --no-deps monailabel==0.8.5 pydicom-seg==0.4.1": _PIP,
    "python -m pytest": "not run here: the test suite itself (.ci/run runs it)",
    "pip install torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu": _NET
    + " (download.pytorch.org; only PyPI is reachable from this project's machines, as the README says)",
    "OMP_NUM_THREADS=2 python scripts/benchmark.py --rounds 1 --profile --repeats 2 --latency-repeats 5": (
        "not run here: about 42 min; run by hand, published in the README and docs/benchmarks.md; "
        "tests/scripts/test_benchmark.py runs the script at tiny size"
    ),
    "python scripts/accuracy.py": (
        "not run here: 45 CPU-seconds per run x networks x seeds; run by hand, published in docs/accuracy.md; "
        "tests/scripts/test_accuracy.py runs it at tiny size"
    ),
    "python scripts/study.py --plan": (
        "not run here: builds the four datalists in study_results/ beside the repository; "
        "tests/scripts/test_study.py runs --plan and the study itself at tiny size"
    ),
    # the bundle cards' Performance blocks (scripts/study_cards.py): the command behind each card's models/model.pt
    **{
        f"python scripts/study.py --tasks {task} --models {model} --seeds 0 --install-weights": (
            "not run here: trains the card's network for 6 to 60 CPU-minutes; tests/scripts/test_study_weights.py "
            "runs --install-weights around a stand-in training, tests/scripts/test_study.py the study at tiny size"
        )
        for task, model in (
            ("ham10000", "cdfinet"),
            ("ham10000", "hifuse"),
            ("ham10000", "medmamba"),
            ("ham10000", "mfsf2net"),
            ("kvasir_seg", "mfsf2net_seg"),
        )
    },
    **{
        f"python -m monai.bundle run evaluating --config_file \"['bundles/{bundle}/configs/train.json',"
        f"'bundles/{bundle}/configs/evaluate.json']\" --datalist ../study_results/datalists/{task}_split0.json"
        + (f" --ckpt_dir bundles/{bundle}/models/{task}" if bundle in ("cdfinet", "medmamba") else ""): (
            "not run here: needs the card's trained weights in models/ (the --install-weights command above) and the "
            "study's datalist; run by hand after installing them (issue 16's closing note)"
        )
        for bundle, task in (
            ("cdfinet", "ham10000"),
            ("hifuse", "ham10000"),
            ("medmamba", "ham10000"),
            ("mfsf2net", "ham10000"),
            ("mfsf2net_segmentation", "kvasir_seg"),
        )
    },
    "python apps/monailabel/serve.py --studies /path/to/studies --conf models mfsf2net,mfsf2net_segmentation": _LABEL,
    "python scripts/verify_bundles.py --fast": (
        "not run here: about a minute; tests/test_verify_bundles.py runs verify_bundles.py --fast"
    ),
    "python -m monai_fusion.bundle_zip bundles/cdfinet": RUN,
    "python -m monai.bundle download --name cdfinet --bundle_dir /tmp/bundles --url "
    "file://$HOME/.cache/monai_fusion/dist/cdfinet_v0.1.0.zip": RUN,
    "python scripts/release.py dist --outdir /tmp/mf-dist": _BUILD,
    "python scripts/release.py bundle bundles/cdfinet --outdir /tmp/zips": RUN,
    "CAUSAL_CONV1D_FORCE_BUILD=TRUE pip install --no-build-isolation causal-conv1d": _PIP + "; needs CUDA and nvcc",
    "MAMBA_FORCE_BUILD=TRUE pip install --no-build-isolation mamba-ssm": _PIP + "; needs CUDA and nvcc",
    # bundle model cards (bundles/<name>/docs/README.md)
    "python -m monai.bundle run training --config_file configs/train.json --dataset_dir /data/chest_xray_pneumonia "
    "--class_names \"['NORMAL','PNEUMONIA']\" --group_pattern \"^(person\\d+|IM-\\d+|NORMAL2-IM-\\d+)\"": RUN,
    "python -m monai.bundle run training --config_file configs/train.json --dataset_dir /data/my_images "
    "--class_names \"['benign','malignant']\"": RUN,
    "python -m monai.bundle run training --config_file configs/train.json": RUN,
    "python -m monai.bundle run training --config_file configs/train.json --dataset_dir /data/kvasir-dataset": RUN,
    "python -m monai.bundle run training --config_file configs/train.json --dataset_dir /data/HAM10000": RUN,
    "python -m monai.bundle run training --config_file configs/train.json --datalist /data/datalist.json": RUN,
    "python -m monai.bundle run training --config_file configs/train.json --resume True": RUN,
    "torchrun --standalone --nnodes=1 --nproc_per_node=2 -m monai.bundle run training --config_file "
    "\"['configs/train.json','configs/multi_gpu_train.json']\"": _DIST,
    "python -m monai.bundle run evaluating --config_file \"['configs/train.json','configs/evaluate.json']\"": RUN,
    "python -m monai.bundle run --config_file configs/inference.json --dataset_dir /path/to/images": RUN,
    "python -m monai.bundle verify_metadata --meta_file configs/metadata.json --filepath eval/schema.json": RUN,
    "python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json "
    "--config_file configs/inference.json": RUN,
    "python -m monai.bundle ckpt_export network_def --filepath models/model.ts --ckpt_file models/model.pt "
    "--meta_file configs/metadata.json --config_file configs/inference.json --use_trace True "
    '--input_shape "[1, 3, 224, 224]"': RUN,
    "python -m monai.bundle ckpt_export network_def --filepath models/model.ts --ckpt_file models/model.pt "
    "--meta_file configs/metadata.json --config_file configs/inference.json --use_trace True "
    '--input_shape "[1, 3, 352, 352]"': RUN,
    "python -m monai.bundle run training --config_file configs/train.json --dataset_dir /data/Kvasir-SEG": RUN,
    "python -m monai.bundle run training --config_file configs/train.json --datalist "
    "~/.cache/monai_fusion/datalists/kvasir_seg.json": RUN,
    "python -m monai.bundle run training --config_file \"['configs/train.json','configs/train_rcm.json']\" "
    "--rcm_csv /data/rcm_cases.csv --rcm_slices 4": (
        "not run here: ../shared/data holds no dermoscopy + RCM pairs; tests/bundles/test_classification_rcm.py "
        "trains configs/train_rcm.json on synthetic RCM stacks"
    ),
    "python -m monai.bundle run training --config_file configs/train_ct.json --datalist /data/ct_datalist.json": (
        "not run here: the CT configs are run on the shared CT volumes by tests/bundles/test_mfsf2net_segmentation_ct"
        ".py (train_ct.json from a datalist of NIfTI + DICOM) and verbatim in docs/ct.md"
    ),
    "python -m monai.bundle run --config_file configs/inference_ct.json --dataset_dir /path/to/ct_studies": (
        "not run here: tests/bundles/test_mfsf2net_segmentation_ct.py runs inference_ct.json on a DICOM series and a "
        "folder of studies; docs/ct.md runs it verbatim"
    ),
    # docs/ct.md (the CT walkthrough: run by hand, outputs shown there)
    (
        "python -m monai.bundle run training --config_file bundles/mfsf2net_segmentation/configs/tr"
        'ain_ct.json --datalist docs/examples/ct_volumes.json --pixdim "[3.0,3.0]" --spatial_size "'
        '[128,128]" --batch_size 8 --max_epochs 150 --val_interval 50 --warmup_epochs 2 --learning_rate 0.0003'
        " --num_workers 0 --num_threads 1"
    ): _CT_BY_HAND + " (about 11 min); tests/bundles/test_mfsf2net_segmentation_ct.py trains train_ct.json at 64 px",
    (
        "python -m monai.bundle run --config_file bundles/mfsf2net_segmentation/configs/inference_c"
        "t.json --dataset_dir ../shared/data/ct_volumes/example_ct_dicom"
    ): _CT_BY_HAND + "; tests/bundles/test_mfsf2net_segmentation_ct.py runs inference_ct.json on the same series",
    (
        "python -c \"import itk, nibabel, numpy as np; f = 'bundles/mfsf2net_segmentation/eval/ct/in"
        "ference/example_ct_dicom_mask.nii.gz'; m = nibabel.load(f); s = itk.imread(itk.GDCMSeriesF"
        "ileNames.New(Directory='../shared/data/ct_volumes/example_ct_dicom').GetInputFileNames());"
        " k = itk.imread(f); print('nibabel mask:', m.shape, m.get_data_dtype(), np.unique(np.asany"
        "array(m.dataobj)).tolist()); print(m.affine.round(4)); [print(name, tuple(i.GetLargestPoss"
        "ibleRegion().GetSize()), tuple(i.GetSpacing()), tuple(i.GetOrigin()), itk.array_from_matri"
        "x(i.GetDirection()).tolist()) for name, i in (('ITK series:', s), ('ITK mask: ', k))]\""
    ): _CT_BY_HAND + " (reads the mask above); the CT tests compare the same geometry with nibabel and ITK",
    (
        "python scripts/ct_overlay.py --image ../shared/data/ct_volumes/example_ct_dicom --mask bun"
        "dles/mfsf2net_segmentation/eval/ct/inference/example_ct_dicom_mask.nii.gz --label ../share"
        "d/data/ct_volumes/example_seg_dicom.nii.gz --output /tmp/ct_overlay.png"
    ): _CT_BY_HAND + "; tests/scripts/test_ct_overlay.py runs the script",
    (
        'python -c "import nibabel, numpy as np; nibabel.save(nibabel.Nifti1Image(np.full((64, 64, '
        "8), 128, np.uint8), np.eye(4)), '/tmp/ct_display.nii.gz')\""
    ): _CT_BY_HAND + " (makes the bad file of the next command); tests/data/test_ct_checks.py makes such files",
    (
        "python -m monai.bundle run --config_file bundles/mfsf2net_segmentation/configs/inference_c"
        "t.json --dataset_dir /tmp/ct_display.nii.gz"
    ): _CT_BY_HAND + "; tests/bundles/test_mfsf2net_segmentation_ct.py checks this refusal",
    (
        "python -c \"import os, glob; fs = sorted(glob.glob('../shared/data/ct_volumes/example_ct_di"
        "com/CT.*')); os.makedirs('/tmp/ct_gap', exist_ok=True); [os.symlink(os.path.abspath(f), '/"
        "tmp/ct_gap/' + os.path.basename(f)) for i, f in enumerate(fs) if i != 10]\""
    ): _CT_BY_HAND + " (makes the series with a gap); tests/data/test_ct_checks.py makes such series",
    (
        "python -m monai.bundle run --config_file bundles/mfsf2net_segmentation/configs/inference_c"
        "t.json --dataset_dir /tmp/ct_gap"
    ): _CT_BY_HAND + "; tests/data/test_ct_checks.py checks the missing-slice refusal",
    ("python -m monai.bundle run training --config_file bundles/mfsf2net_segmentation/configs/train_ct.json"): _NET
    + " (the Decathlon archive, 1.5 GB); tests/data/test_msd_spleen.py fetches a file:// stand-in",
    (
        "python -m monai.bundle run training --config_file \"['bundles/cdfinet/configs/train.json','"
        "bundles/cdfinet/configs/train_ct.json']\" --dataset_dir ../shared/data/covid_ct --max_train"
        "_items 64 --max_val_items 32 --image_size 64 --max_epochs 1 --num_workers 0"
    ): _CT_BY_HAND + "; tests/bundles/test_cdfinet_ct.py trains train_ct.json on COVID-CT PNGs",
    (
        "python -m monai.bundle run --config_file \"['bundles/cdfinet/configs/inference.json','bundl"
        "es/cdfinet/configs/inference_ct.json']\" --dataset_dir ../shared/data/ct_volumes/example_ct"
        "_dicom"
    ): _CT_BY_HAND + "; tests/bundles/test_cdfinet_ct.py runs inference_ct.json on a PNG, a volume, a series",
    # docs/sharing.md
    "python scripts/release.py dist --outdir /tmp/monai-fusion-dist": _BUILD,
    "python scripts/release.py dist --outdir /tmp/monai-fusion-dist --ref v0.1.0": _BUILD + " (and no v0.1.0 tag yet)",
    "twine upload --repository testpypi /tmp/monai-fusion-dist/*": _NET + " and a TestPyPI account",
    "twine upload /tmp/monai-fusion-dist/*": _NET + " and a PyPI account",
    "python -m build /tmp/monai-fusion-src --outdir /tmp/monai-fusion-dist": _BUILD,
    "twine check --strict /tmp/monai-fusion-dist/*": "not run here: tests/release/test_build.py runs twine check",
    "python scripts/verify_bundles.py --image-size 64": (
        "not run here: full-size networks, about 10 min; tests/test_verify_bundles.py runs the --fast variant"
    ),
    "python scripts/verify_bundles.py --bundles hifuse --schema /path/to/meta_schema_20240725.json": (
        "not run here: full-size HiFuse-S export (121 M parameters); tests/test_verify_bundles.py runs "
        "verify_bundles.py --fast with --schema pointing at the offline schema"
    ),
    "python scripts/verify_bundles.py": (
        "not run here: full-size networks, about 10 min; tests/test_verify_bundles.py runs the --fast variant"
    ),
    "python scripts/release.py bundle bundles/cdfinet --outdir /tmp/bundle-zips": RUN,
    "python -m monai_fusion.bundle_zip bundles/cdfinet --output /tmp/bundle-zips/cdfinet_v0.1.0.zip "
    "--include models/model.pt": RUN,
    "python scripts/release.py bundle bundles/cdfinet --outdir /tmp/bundle-zips --weights-url "
    "<URL of the uploaded model.pt>": (
        "not run here: writes bundles/cdfinet/large_files.yml by design and needs an uploaded file; "
        "tests/release/test_release_script.py runs it with a file:// URL on a copy"
    ),
    "python -m monai.bundle download --name cdfinet --bundle_dir ~/bundles --url "
    "file:///tmp/bundle-zips/cdfinet_v0.1.0.zip": RUN,
    "python -c \"from monai.bundle import load; net = load('cdfinet', bundle_dir='$HOME/bundles', "
    "workflow_type='inference', device='cpu')\"": RUN,
    "huggingface-cli login": _NET + " and a Hugging Face account",
    "python -c \" from monai.bundle import push_to_hf_hub print(push_to_hf_hub(repo='<org>/cdfinet', name='cdfinet', "
    "bundle_dir='/tmp/hf', version='0.1.0', tag_as_latest_version=True, private=False)) \"": _NET
    + " and a Hugging Face account",
    "python -m monai.bundle download --name cdfinet --source huggingface_hub --repo <org>/cdfinet "
    "--bundle_dir ./bundles": _NET,
    "python -m monai.bundle download --name cdfinet --source huggingface_hub --repo <org>/cdfinet "
    "--version 0.1.0": _NET,
    "python -m monai.bundle ckpt_export network_def --filepath models/model.ts --ckpt_file models/model.pt "
    "--meta_file configs/metadata.json --config_file configs/inference.json": RUN,
    "python -m monai.bundle onnx_export network_def --filepath models/model.onnx --ckpt_file models/model.pt "
    '--meta_file configs/metadata.json --config_file configs/inference.json --input_shape "[1, 3, 224, 224]" '
    "--use_trace True --converter_kwargs \"{'dynamo': False}\"": RUN,
    # docs/monailabel.md (its curl requests and server starts: FAMILIES)
    "python apps/monailabel/serve.py --studies /path/to/studies --conf models mfsf2net_segmentation_ct": _LABEL
    + " (tests/apps/test_monailabel_ct.py serves mfsf2net_segmentation_ct)",
    'pip install -e ".[label]"': _PIP,
    "python apps/monailabel/serve.py --studies DIR --host 0.0.0.0": (
        "not run here: tests/apps/test_monailabel_security.py checks that serve.py refuses 0.0.0.0 without a token"
    ),
    "python -c \"from PIL import Image; import numpy as np; m = np.asarray(Image.open('frame4_mask.png')); "
    'print(m.shape, m.dtype, sorted(np.unique(m).tolist()))"': (
        "not run here: reads the mask the server session returned; tests/apps/test_monailabel_active_learning.py "
        "checks that mask"
    ),
}

#: (document, command prefix) -> why not run here: whole families of one document, for the MONAI Label session
#: transcripts of docs/monailabel.md (every request there goes to a server that tests/apps start and query)
FAMILIES: dict[tuple[str, str], str] = {
    ("docs/monailabel.md", "curl "): _LABEL_CURL,
    ("docs/monailabel.md", "python apps/monailabel/serve.py --studies $W/studies "): _LABEL,
}


def accounted(command: DocCommand) -> bool:
    """Whether ``command`` has an entry in COMMANDS or belongs to one of FAMILIES."""
    if command.text in COMMANDS:
        return True
    return any(command.source == doc and command.text.startswith(prefix) for doc, prefix in FAMILIES)


def test_every_documented_command_is_accounted_for() -> None:
    found = documented_commands()
    assert len(found) > 50, f"the parser found only {len(found)} commands: is it broken?"
    missing = sorted({f"{c.source}:{c.line}: {c.text}" for c in found if not accounted(c)})
    assert not missing, (
        "documented commands that tests/test_documented_commands.py does not account for; add each to COMMANDS "
        "(RUN and a step in a plan, or why it cannot run here and which test covers it):\n" + "\n".join(missing)
    )
    stale = sorted(set(COMMANDS) - {c.text for c in found})
    assert not stale, "COMMANDS entries that no document holds any more (remove them):\n" + "\n".join(stale)


# ---------------------------------------------------------------------------------------------------------------------
# small real inputs standing in for the placeholders


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


def _copy_tracked(rel: str, dest: Path) -> Path:
    """Copy the git-tracked files under ``rel`` (a path of the repository) to ``dest``; return ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", rel], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    prefix = Path(rel)
    for name in filter(None, listed.split("\0")):
        src = REPO_ROOT / name
        target = dest / Path(name).relative_to(prefix) if rel != "." else dest / name
        if src.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@dataclass
class Inputs:
    """The temporary world the commands run in."""

    root: Path
    home: Path
    data: Path  # stand-ins for /data/...
    env: dict[str, str] = field(default_factory=dict)


def _make_inputs(root: Path) -> Inputs:
    shared = require_data()
    home, data = root / "home", root / "data"
    cache = home / ".cache" / "monai_fusion"
    # /data/chest_xray_pneumonia: 5 images per class (one per patient)
    cxr = require_data("chest_xray_pneumonia")
    for cls in ("NORMAL", "PNEUMONIA"):
        for path in sorted((cxr / cls).iterdir())[:5]:
            _link(path, data / "chest_xray_pneumonia" / cls / path.name)
    # Kvasir v1 layout (8 class folders), filled with Kvasir-SEG frames: both /data/kvasir-dataset and the catalogue's
    # default dataset folder, so that "train on the default dataset" finds it instead of downloading
    seg = require_data("kvasir_seg")
    frames = sorted((seg / "images").iterdir())
    classes = [
        "dyed-lifted-polyps",
        "dyed-resection-margins",
        "esophagitis",
        "normal-cecum",
        "normal-pylorus",
        "normal-z-line",
        "polyps",
        "ulcerative-colitis",
    ]
    for k, cls in enumerate(classes):
        for path in frames[3 * k : 3 * k + 3]:
            for top in (data, cache / "datasets" / "kvasir_v1"):
                _link(path, top / "kvasir-dataset" / cls / path.name)
    # Kvasir-SEG: 10 image/mask pairs, at /data/Kvasir-SEG and in the catalogue folder
    for path in frames[30:40]:
        for top in (data / "Kvasir-SEG", cache / "datasets" / "kvasir_seg"):
            _link(path, top / "images" / path.name)
            _link(seg / "masks" / path.name, top / "masks" / path.name)
    # HAM10000: 16 images of 4 classes with their metadata rows (/data/HAM10000), and /data/my_images benign/malignant
    ham = require_data("ham10000")
    lines = (ham / "HAM10000_metadata.csv").read_text().splitlines()
    header, wanted, kept = lines[0], {"nv": 4, "mel": 4, "bkl": 4, "bcc": 4}, []
    dx_col = header.split(",").index("dx")
    id_col = header.split(",").index("image_id")
    for line in lines[1:]:
        cells = line.split(",")
        if wanted.get(cells[dx_col], 0) > 0 and (ham / "images" / f"{cells[id_col]}.jpg").is_file():
            wanted[cells[dx_col]] -= 1
            kept.append(line)
    (data / "HAM10000").mkdir(parents=True)
    (data / "HAM10000" / "HAM10000_metadata.csv").write_text("\n".join([header, *kept]) + "\n")
    for line in kept:
        image = ham / "images" / f"{line.split(',')[id_col]}.jpg"
        _link(image, data / "HAM10000" / "images" / image.name)
        _link(
            image,
            data / "my_images" / ("malignant" if line.split(",")[dx_col] in ("mel", "bcc") else "benign") / image.name,
        )
    # /path/to/images: a HAM10000 image and a Kvasir-SEG frame, copied (linked_images: the same as symbolic links)
    for path in [*sorted((ham / "images").iterdir())[:1], frames[50]]:
        (data / "images").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, data / "images" / path.name)
        _link(path, data / "linked_images" / path.name)
    # ../shared/data beside the repository copy, and the offline metadata schema
    _link(shared, root / "shared" / "data")
    schema = shared.parent / "monai" / "meta_schema_20240725.json"
    if schema.is_file():
        _link(schema.parent, root / "shared" / "monai")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONAI_FUSION_")}
    from monai_fusion.networks.ops.native_build import native_cache_dir

    env.update(
        HOME=str(home),
        MONAI_FUSION_CACHE_DIR=str(native_cache_dir()),  # the compiled scan kernel stays where it is cached
        MPLCONFIGDIR=str(root / "mpl"),
        PYTHONDONTWRITEBYTECODE="1",
        OMP_WAIT_POLICY="PASSIVE",
    )
    home.mkdir(parents=True, exist_ok=True)
    return Inputs(root=root, home=home, data=data, env=env)


# ---------------------------------------------------------------------------------------------------------------------
# plans: which command runs where, with which appended overrides, and what it must leave


@dataclass
class Step:
    """One command to run: the documented text, its placeholders replaced, overrides appended."""

    key: str  # the documented command (a COMMANDS key) or a setup step's text
    cwd: Path
    overrides: str = ""
    substitutions: dict[str, str] = field(default_factory=dict)
    check: Callable[[Path, str], None] | None = None  # (cwd, log text) -> asserts
    label: str = ""
    known_bug: bool = False  # checked by its own strict-xfail test, not by the plan's test

    @property
    def command(self) -> str:
        text = self.key
        for old, new in self.substitutions.items():
            text = text.replace(old, new)
        return f"{text} {self.overrides}".strip()


def _opts(values: dict[str, object]) -> str:
    out = []
    for key, value in values.items():
        if isinstance(value, (list, tuple)):
            value = "[" + ",".join(str(v) for v in value) + "]"
        out.append(f"--{key} {shlex.quote(str(value))}")
    return " ".join(out)


def tiny_train(name: str, epochs: int = 1) -> str:
    """Overrides that make one classification training run small."""
    net = {k: v for k, v in TINY_NETWORKS[name].items() if not k.endswith("scan_backend")}
    small = {
        "max_train_items": 4,
        "max_val_items": 2,
        "image_size": 32,
        "max_epochs": epochs,
        "num_workers": 0,
        "train_batch_size": 2,
        "val_batch_size": 2,
        "progress_bar": False,
    }
    return _opts({**small, **net})


SEG_TRAIN = _opts(
    {
        "max_train_items": 4,
        "max_val_items": 2,
        "spatial_size": [64, 64],
        "max_epochs": 1,
        "warmup_epochs": 1,
        "num_workers": 0,
        "batch_size": 2,
        "val_batch_size": 2,
        "network_def#fuse_channels": 16,
        "network_def#decoder_channels": 16,
    }
)


def _files(*names: str) -> Callable[[Path, str], None]:
    def check(cwd: Path, log: str) -> None:
        for name in names:
            assert (cwd / name).exists(), f"{name} was not written (in {cwd})"

    return check


def _output(text: str, *names: str) -> Callable[[Path, str], None]:
    def check(cwd: Path, log: str) -> None:
        assert text in log, f"{text!r} not in the output"
        _files(*names)(cwd, log)

    return check


def _predictions(rows: int) -> Callable[[Path, str], None]:
    def check(cwd: Path, log: str) -> None:
        lines = (cwd / "eval" / "inference" / "predictions.csv").read_text().splitlines()
        assert len(lines) == rows, lines

    return check


def _all_weights_loaded(cwd: Path, log: str) -> None:
    """MONAI's ``load`` copies the checkpoint's tensors that fit the config's network and logs how many."""
    found = re.search(r"model updated: (\d+) of (\d+) variables", log)
    assert found, "no 'model updated: N of M variables' line in the output"
    assert found.group(1) == found.group(2), f"load() used only part of models/model.pt: {found.group(0)}"


def _trained(epoch: int = 1) -> Callable[[Path, str], None]:
    return _files("models/model.pt", "models/training_record.json", f"models/checkpoint_epoch={epoch}.pt")


# ---------------------------------------------------------------------------------------------------------------------
# running a plan


def _run_plan(name: str, steps: list[Step], inputs: Inputs) -> dict[str, dict]:
    """Run ``steps`` in one fresh interpreter (``tests/documented_commands.py``); their results by label."""
    work = inputs.root / f"plan_{name}"
    work.mkdir()
    planned = []
    for k, step in enumerate(steps):
        step.label = step.label or f"{name}[{k}]"
        words = shell_words(step.command, step.cwd, inputs.env)
        planned.append({"id": step.label, "cwd": str(step.cwd), "words": words, "log": str(work / f"{k}.log")})
    plan = work / "plan.json"
    plan.write_text(json.dumps({"steps": planned, "results": str(work / "results.jsonl")}))
    subprocess.run([sys.executable, str(DRIVER), str(plan)], cwd=inputs.root, env=inputs.env, timeout=1200)
    results = {}
    lines = (work / "results.jsonl").read_text().splitlines() if (work / "results.jsonl").exists() else []
    by_id = {r["id"]: r for r in map(json.loads, lines)}
    for step, entry in zip(steps, planned):
        log = Path(entry["log"]).read_text(errors="replace") if Path(entry["log"]).exists() else ""
        results[step.label] = {"step": step, "result": by_id.get(step.label), "log": log}
    return results


def _check(results: dict[str, dict], label: str) -> None:
    entry = results[label]
    step, result, log = entry["step"], entry["result"], entry["log"]
    where = f"\n  command: {step.command}\n  cwd: {step.cwd}\n  output (last 3000 chars):\n{log[-3000:]}"
    assert result is not None, "the command did not run (an earlier command crashed the interpreter?)" + where
    assert result["returncode"] == 0, f"exit status {result['returncode']}" + where
    if step.check is not None:
        try:
            step.check(step.cwd, log)
        except AssertionError as err:
            raise AssertionError(f"{err}{where}") from None


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory):
    before = _git_status()
    root = tmp_path_factory.mktemp("documented")
    yield _make_inputs(root)
    assert _git_status() == before, "running the documented commands changed the checkout"
    if not os.environ.get("MONAI_FUSION_KEEP_DOC_RUNS"):
        shutil.rmtree(root, ignore_errors=True)  # checkpoints


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "bundles", "README.md", "docs"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _schema_into(bundle: Path, inputs: Inputs) -> None:
    """The cards' ``verify_metadata --filepath eval/schema.json`` downloads the schema unless it is there: put the
    offline copy there first, as the cards say ("with a local copy of the schema")."""
    schema = inputs.root / "shared" / "monai" / "meta_schema_20240725.json"
    if not schema.is_file():
        pytest.skip(f"{schema} not found")
    (bundle / "eval").mkdir(parents=True, exist_ok=True)
    shutil.copy(schema, bundle / "eval" / "schema.json")


def readme_plan(inputs: Inputs) -> list[Step]:
    """README.md's commands and docs/sharing.md's "from the repository root" ones, from a copy of the repository."""
    repo = inputs.root / "repo"
    if not repo.exists():
        _copy_tracked(".", repo)
        # a checkout, as the README assumes: bundle_zip and release.py pack only what git tracks or would add
        for git in (["init", "-q"], ["add", "-A"]):
            subprocess.run(["git", *git], cwd=repo, env=inputs.env, check=True, capture_output=True)
    out, cache = inputs.root / "out", inputs.home / ".cache" / "monai_fusion"
    hifuse, cdfinet = repo / "bundles" / "hifuse", repo / "bundles" / "cdfinet"
    images = {"path/to/images": str(inputs.data / "images")}
    ham = "--datalist ~/.cache/monai_fusion/datalists/ham10000.json"

    def zipped(path: Path, *members: str) -> Callable[[Path, str], None]:
        def check(cwd: Path, log: str) -> None:
            import zipfile

            with zipfile.ZipFile(path) as z:
                names = z.namelist()
            for member in ("cdfinet/configs/metadata.json", *members):
                assert member in names, f"{member} not in {path}: {names}"

        return check

    return [
        Step(
            "python -m monai_fusion.data prepare ham10000 --dataset-dir ../shared/data/ham10000",
            repo,
            check=lambda cwd, log: _files(str(cache / "datalists" / "ham10000.json"))(cwd, log),
        ),
        Step(
            "python -m monai.bundle run training --config_file bundles/hifuse/configs/train.json " + ham,
            repo,
            tiny_train("hifuse"),
            check=lambda cwd, log: _trained()(hifuse, log),
        ),
        Step(
            "python -m monai.bundle run evaluating --config_file \"['bundles/hifuse/configs/train.json',"
            "'bundles/hifuse/configs/evaluate.json']\" " + ham,
            repo,
            "--num_workers 0",
            check=lambda cwd, log: _files("eval/evaluation/metrics.csv")(hifuse, log),
        ),
        Step(
            "python -m monai.bundle run --config_file bundles/hifuse/configs/inference.json "
            "--dataset_dir path/to/images",
            repo,
            "--num_workers 0",
            images,
            check=lambda cwd, log: _predictions(2)(hifuse, log),
        ),
        Step(
            "python -m monai.bundle run training --config_file bundles/cdfinet/configs/train.json --dataset_dir "
            "../shared/data/chest_xray_pneumonia --class_names \"['NORMAL','PNEUMONIA']\" --group_pattern "
            '"^(person\\d+|IM-\\d+|NORMAL2-IM-\\d+)" --max_train_items 64 --max_val_items 32 --image_size 64 '
            "--max_epochs 2",
            repo,
            tiny_train("cdfinet"),
            check=lambda cwd, log: _trained()(cdfinet, log),
        ),
        Step(
            "python -m monai_fusion.bundle_zip bundles/cdfinet",
            repo,
            check=lambda cwd, log: zipped(cache / "dist" / "cdfinet_v0.1.0.zip")(cwd, log),
        ),
        Step(
            "python -m monai.bundle download --name cdfinet --bundle_dir /tmp/bundles --url "
            "file://$HOME/.cache/monai_fusion/dist/cdfinet_v0.1.0.zip",
            repo,
            substitutions={"/tmp/bundles": str(out / "bundles")},
            check=lambda cwd, log: _files(str(out / "bundles" / "cdfinet" / "configs" / "inference.json"))(cwd, log),
        ),
        Step(
            "python scripts/release.py bundle bundles/cdfinet --outdir /tmp/zips",
            repo,
            substitutions={"/tmp/zips": str(out / "zips")},
            check=lambda cwd, log: zipped(out / "zips" / "cdfinet_v0.1.0.zip", "cdfinet/models/model.pt")(cwd, log),
        ),
        # docs/sharing.md §3
        Step(
            "python scripts/release.py bundle bundles/cdfinet --outdir /tmp/bundle-zips",
            repo,
            substitutions={"/tmp/bundle-zips": str(out / "bundle-zips")},
            check=lambda cwd, log: zipped(out / "bundle-zips" / "cdfinet_v0.1.0.zip")(cwd, log),
        ),
        Step(
            "python -m monai_fusion.bundle_zip bundles/cdfinet --output /tmp/bundle-zips/cdfinet_v0.1.0.zip "
            "--include models/model.pt",
            repo,
            substitutions={"/tmp/bundle-zips": str(out / "bundle-zips")},
            check=lambda cwd, log: zipped(out / "bundle-zips" / "cdfinet_v0.1.0.zip", "cdfinet/models/model.pt")(
                cwd, log
            ),
        ),
        Step(
            "python -m monai.bundle download --name cdfinet --bundle_dir ~/bundles --url "
            "file:///tmp/bundle-zips/cdfinet_v0.1.0.zip",
            repo,
            substitutions={"/tmp/bundle-zips": str(out / "bundle-zips")},
            check=lambda cwd, log: _files(str(inputs.home / "bundles" / "cdfinet" / "models" / "model.pt"))(cwd, log),
        ),
        Step(
            "python -c \"from monai.bundle import load; net = load('cdfinet', bundle_dir='$HOME/bundles', "
            "workflow_type='inference', device='cpu')\"",
            repo,
            check=_all_weights_loaded,
            label="sharing-load",
        ),
    ]


def cdfinet_plan(inputs: Inputs) -> list[Step]:
    """The cdfinet card in full, then docs/sharing.md §6 (export) from the same bundle folder."""
    bundle = inputs.root / "bundles" / "cdfinet"
    if not bundle.exists():
        _copy_tracked("bundles/cdfinet", bundle)
        _schema_into(bundle, inputs)
    train = "python -m monai.bundle run training --config_file configs/train.json"
    data = {"/data/": f"{inputs.data}/"}
    export = (
        "python -m monai.bundle ckpt_export network_def --filepath models/model.ts --ckpt_file models/model.pt "
        "--meta_file configs/metadata.json --config_file configs/inference.json"
    )
    return [
        Step(
            train + " --dataset_dir /data/chest_xray_pneumonia --class_names \"['NORMAL','PNEUMONIA']\" "
            '--group_pattern "^(person\\d+|IM-\\d+|NORMAL2-IM-\\d+)"',
            bundle,
            tiny_train("cdfinet"),
            data,
            _trained(),
        ),
        Step(train, bundle, tiny_train("cdfinet"), check=_trained()),
        Step(train + " --dataset_dir /data/kvasir-dataset", bundle, tiny_train("cdfinet"), data, _trained()),
        Step(  # setup: the datalist of the next command, written the way the card says
            f"python -m monai_fusion.data prepare kvasir_v1 --dataset-dir {inputs.data}/kvasir-dataset "
            f"--output {inputs.data}/datalist.json",
            bundle,
            check=lambda cwd, log: _files(str(inputs.data / "datalist.json"))(cwd, log),
        ),
        Step(train + " --datalist /data/datalist.json", bundle, tiny_train("cdfinet"), data, _trained()),
        Step(train + " --resume True", bundle, tiny_train("cdfinet", epochs=2), check=_trained(2)),
        Step(
            "python -m monai.bundle run evaluating --config_file \"['configs/train.json','configs/evaluate.json']\"",
            bundle,
            "--num_workers 0",
            check=_files("eval/evaluation/metrics.csv", "eval/evaluation/predictions.csv"),
        ),
        Step(
            "python -m monai.bundle run --config_file configs/inference.json --dataset_dir /path/to/images",
            bundle,
            "--num_workers 0",
            {"/path/to/images": str(inputs.data / "images")},
            _predictions(2),
        ),
        Step(
            "python -m monai.bundle verify_metadata --meta_file configs/metadata.json --filepath eval/schema.json",
            bundle,
            check=_output("verified"),
        ),
        Step(
            "python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json "
            "--config_file configs/inference.json",
            bundle,
            check=_output("verified"),
        ),
        # docs/sharing.md §6: script mode first, then the traced command (also the cards')
        Step(export, bundle, check=_output("exported to file", "models/model.ts")),
        Step(
            export + ' --use_trace True --input_shape "[1, 3, 224, 224]"',
            bundle,
            check=_output("exported to file", "models/model.ts"),
        ),
        Step(
            "python -m monai.bundle onnx_export network_def --filepath models/model.onnx --ckpt_file models/model.pt "
            '--meta_file configs/metadata.json --config_file configs/inference.json --input_shape "[1, 3, 224, 224]" '
            "--use_trace True --converter_kwargs \"{'dynamo': False}\"",
            bundle,
            check=_output("exported to file", "models/model.onnx"),
        ),
    ]


def other_cards_plan(inputs: Inputs) -> list[Step]:
    """The commands of the hifuse, medmamba and mfsf2net cards whose text differs from the cdfinet card's."""
    steps = []
    data = {"/data/": f"{inputs.data}/"}
    cdfinet_texts = {c.text for c in extract_commands(REPO_ROOT / "bundles/cdfinet/docs/README.md", REPO_ROOT)}
    for name in CLASSIFICATION[1:]:
        bundle = inputs.root / "bundles" / name
        if not bundle.exists():
            _copy_tracked(f"bundles/{name}", bundle)
        for command in extract_commands(REPO_ROOT / f"bundles/{name}/docs/README.md", REPO_ROOT):
            if command.text in cdfinet_texts or COMMANDS.get(command.text) != RUN:
                continue
            steps.append(Step(command.text, bundle, tiny_train(name), data, _trained(), label=f"{name}:{command.line}"))
    return steps


def segmentation_plan(inputs: Inputs) -> list[Step]:
    """The mfsf2net_segmentation card in full."""
    bundle = inputs.root / "bundles" / "mfsf2net_segmentation"
    if not bundle.exists():
        _copy_tracked("bundles/mfsf2net_segmentation", bundle)
        _schema_into(bundle, inputs)
    train = "python -m monai.bundle run training --config_file configs/train.json"
    data = {"/data/": f"{inputs.data}/"}
    deep_out = inputs.root.joinpath("deep", *["d"] * len((inputs.data / "linked_images").parts), "inference")
    return [
        Step(train, bundle, SEG_TRAIN, check=_trained()),
        Step(train + " --dataset_dir /data/Kvasir-SEG", bundle, SEG_TRAIN, data, _trained()),
        Step(  # setup: the datalist the next command names, written the way the card says
            f"python -m monai_fusion.data prepare kvasir_seg --dataset-dir {inputs.data}/Kvasir-SEG",
            bundle,
            check=lambda cwd, log: _files(
                str(inputs.home / ".cache" / "monai_fusion" / "datalists" / "kvasir_seg.json")
            )(cwd, log),
        ),
        Step(
            train + " --datalist ~/.cache/monai_fusion/datalists/kvasir_seg.json", bundle, SEG_TRAIN, check=_trained()
        ),
        Step(train + " --resume True", bundle, SEG_TRAIN + " --max_epochs 2", check=_trained(2)),
        Step(
            "python -m monai.bundle run evaluating --config_file \"['configs/train.json','configs/evaluate.json']\"",
            bundle,
            "--num_workers 0",
            check=_files("eval/metrics.csv"),
        ),
        Step(
            "python -m monai.bundle run --config_file configs/inference.json --dataset_dir /path/to/images",
            bundle,
            "--num_workers 0",
            {"/path/to/images": str(inputs.data / "images")},
            lambda cwd, log: _files(*(f"eval/inference/{p.stem}_mask.png" for p in (inputs.data / "images").iterdir()))(
                cwd, log
            ),
        ),
        Step(  # the same command on a folder of symbolic links; output_dir deep enough that a mask written
            # outside it still lands inside this test's temporary folder
            "python -m monai.bundle run --config_file configs/inference.json --dataset_dir /path/to/images",
            bundle,
            f"--num_workers 0 --output_dir {deep_out}",
            {"/path/to/images": str(inputs.data / "linked_images")},
            lambda cwd, log: _files(
                *(str(deep_out / f"{p.stem}_mask.png") for p in (inputs.data / "images").iterdir())
            )(cwd, log),
            label="segmentation-inference-symlinks",
        ),
        Step(
            "python -m monai.bundle verify_metadata --meta_file configs/metadata.json --filepath eval/schema.json",
            bundle,
            check=_output("verified"),
        ),
        Step(
            "python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json "
            "--config_file configs/inference.json",
            bundle,
            check=_output("verified"),
        ),
        Step(
            "python -m monai.bundle ckpt_export network_def --filepath models/model.ts --ckpt_file models/model.pt "
            "--meta_file configs/metadata.json --config_file configs/inference.json --use_trace True "
            '--input_shape "[1, 3, 352, 352]"',
            bundle,
            check=_output("exported to file", "models/model.ts"),
        ),
    ]


PLANS = {
    "readme": readme_plan,
    "cdfinet": cdfinet_plan,
    "other_cards": other_cards_plan,
    "segmentation": segmentation_plan,
}


def test_every_runnable_command_has_a_step(tmp_path: Path) -> None:
    fake = Inputs(root=tmp_path, home=tmp_path / "home", data=tmp_path / "data")
    (tmp_path / "shared" / "monai").mkdir(parents=True)
    (tmp_path / "shared" / "monai" / "meta_schema_20240725.json").write_text("{}")
    (fake.data / "images").mkdir(parents=True)
    planned = {step.key for make in PLANS.values() for step in make(fake)}
    unplanned = sorted(k for k, v in COMMANDS.items() if v == RUN and k not in planned)
    assert not unplanned, "COMMANDS marked RUN that no plan runs:\n" + "\n".join(unplanned)


def _assert_all_ran(results: dict[str, dict]) -> None:
    failures = []
    for label, entry in results.items():
        seconds = entry["result"]["seconds"] if entry["result"] else "-"
        print(
            f"{label}: {seconds} s, exit {entry['result'] and entry['result']['returncode']}: {entry['step'].command}"
        )
    for label in results:
        if results[label]["step"].known_bug:
            continue
        try:
            _check(results, label)
        except AssertionError as err:
            failures.append(f"[{label}] {err}")
    assert not failures, f"{len(failures)} of {len(results)} documented commands failed:\n\n" + "\n\n".join(failures)


@pytest.fixture(scope="module")
def ran(inputs: Inputs) -> Callable[[str], dict[str, dict]]:
    """``ran(plan)``: the results of a plan, which runs the first time it is asked for."""
    cache: dict[str, dict[str, dict]] = {}

    def get(name: str) -> dict[str, dict]:
        if name not in cache:
            cache[name] = _run_plan(name, PLANS[name](inputs), inputs)
        return cache[name]

    return get


@pytest.mark.parametrize("plan", ["readme", "cdfinet", "other_cards"])
def test_documented_commands_run(plan: str, ran: Callable[[str], dict[str, dict]]) -> None:
    _assert_all_ran(ran(plan))


@pytest.mark.slow
def test_segmentation_card_commands_run(ran: Callable[[str], dict[str, dict]]) -> None:
    _assert_all_ran(ran("segmentation"))


def test_sharing_load_gets_the_trained_network(ran: Callable[[str], dict[str, dict]]) -> None:
    _check(ran("readme"), "sharing-load")


@pytest.mark.slow
def test_segmentation_inference_on_linked_images(ran: Callable[[str], dict[str, dict]]) -> None:
    _check(ran("segmentation"), "segmentation-inference-symlinks")
