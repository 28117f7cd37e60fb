# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""``multi_gpu_train.json`` under ``torchrun`` with 2 processes and the gloo backend (CPU), launched exactly as the
model card says.

Each rank is given its own output and checkpoint folders (``.../rank<RANK>/``), so that what each process writes can
be told apart: rank 0 writes every checkpoint, report and plot, rank 1 writes nothing. The validation metrics count
every image once (3 images over 2 ranks: no padded duplicate) and equal, number for number, those of a single
process evaluating the same weights on the same images.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from monai.bundle import ConfigWorkflow

from tests.bundles.classification_cases import TINY_NETWORKS, config_paths, tiny_datalist, workflow_overrides
from tests.utils import REPO_ROOT

pytestmark = [pytest.mark.bundle, pytest.mark.data]

NAME = "medmamba"


@pytest.fixture(scope="module")
def torchrun_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One 2-process gloo training run (2 epochs); each rank writes under ``run/rank<RANK>``."""
    tmp_path = tmp_path_factory.mktemp("torchrun")
    datalist_path, classes = tiny_datalist(NAME, tmp_path / "data")
    datalist = json.loads(datalist_path.read_text())
    datalist["validation"] = datalist["validation"] + datalist["test"][:1]  # 3 images: uneven over 2 ranks
    datalist_path.write_text(json.dumps(datalist))
    out = tmp_path / "run"
    rank_dir = f"'{out}/rank' + __import__('os').environ['RANK']"
    config = f"['bundles/{NAME}/configs/train.json','bundles/{NAME}/configs/multi_gpu_train.json']"
    args = {
        "datalist": str(datalist_path),
        "class_names": json.dumps(classes),
        "output_dir": f"${rank_dir} + '/eval'",
        "ckpt_dir": f"${rank_dir} + '/models'",
        "image_size": "32",
        "num_workers": "0",
        "train_batch_size": "2",
        "val_batch_size": "1",
        "max_epochs": "2",
        "progress_bar": "False",
        **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in TINY_NETWORKS[NAME].items()},
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2"]
    cmd += ["-m", "monai.bundle", "run", "training", "--config_file", config]
    cmd += [part for k, v in args.items() for part in (f"--{k}", v)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"out": out, "datalist": datalist_path, "classes": classes, "tmp": tmp_path}


def test_torchrun_two_processes_gloo(torchrun_run: dict) -> None:
    out = torchrun_run["out"] / "rank0"
    assert (out / "models" / "model.pt").is_file()
    state = torch.load(out / "models" / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in state["model"]), "the DDP wrapper must not leak into checkpoints"
    assert state["trainer"]["iteration"] == 2 * state["trainer"]["epoch_length"] == 2  # 4 images / 2 ranks / batch 2
    report = json.loads((out / "eval" / "validation" / "classification_report.json").read_text())
    assert report["num_samples"] == 3
    assert sum(sum(row) for row in report["confusion_matrix"]) == 3
    assert (out / "eval" / "training_curves.png").is_file()


def test_only_rank_0_writes(torchrun_run: dict) -> None:
    written = {
        rank: sorted(str(p.relative_to(torchrun_run["out"] / rank)) for p in (torchrun_run["out"] / rank).rglob("*"))
        for rank in ("rank0", "rank1")
        if (torchrun_run["out"] / rank).exists()
    }
    rank0 = set(written["rank0"])
    for expected in ("models/model.pt", "models/checkpoint_epoch=2.pt", "eval/training_curves.png"):
        assert expected in rank0, written["rank0"]
    assert any(f.startswith("eval/validation/") and f.endswith(".png") for f in rank0), "no plot of the report"
    rank1_files = [f for f in written.get("rank1", []) if (torchrun_run["out"] / "rank1" / f).is_file()]
    assert rank1_files == [], f"rank 1 wrote {rank1_files}"


def _numbers(report: dict, prefix: str = "") -> dict[str, float | None]:
    """Every number of a classification report, flattened (``per_class/NORMAL/auc`` ...), without the epoch."""
    flat: dict[str, float | None] = {}
    for key, value in report.items():
        name = f"{prefix}{key}"
        if key == "epoch":
            continue
        if isinstance(value, dict):
            flat.update(_numbers(value, name + "/"))
        elif isinstance(value, list):
            flat.update(_numbers({str(i): v for i, v in enumerate(value)}, name + "/"))
        elif isinstance(value, (int, float)) or value is None:
            flat[name] = value
    return flat


def test_two_process_metrics_equal_a_single_process(torchrun_run: dict) -> None:
    """The 2-rank validation at the end of epoch 2 and a single-process ``evaluate.json`` run of the epoch-2 weights on
    the same 3 images report the same numbers (within 1e-6): no image dropped or counted twice."""
    distributed = json.loads(
        (torchrun_run["out"] / "rank0" / "eval" / "validation" / "classification_report.json").read_text()
    )
    assert distributed["epoch"] == 2
    single_out = torchrun_run["tmp"] / "single"
    override = {
        **workflow_overrides(NAME, single_out, torchrun_run["datalist"], torchrun_run["classes"]),
        "val_batch_size": 2,
        "eval_section": "validation",
        "check_sections": ["validation"],
        "ckpt_path": str(torchrun_run["out"] / "rank0" / "models" / "checkpoint_epoch=2.pt"),
    }
    workflow = ConfigWorkflow(
        config_file=config_paths(NAME, "train.json", "evaluate.json"), workflow_type="eval", **override
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    single = json.loads((single_out / "eval" / "evaluation" / "classification_report.json").read_text())
    expected, found = _numbers(single), _numbers(distributed)
    assert expected["num_samples"] == 3 and sorted(found) == sorted(expected)
    assert len(expected) > 20
    for key, value in expected.items():
        if value is None or found[key] is None:
            assert value is found[key], key
        else:
            assert math.isclose(found[key], value, rel_tol=0, abs_tol=1e-6), (key, found[key], value)
