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
model card says; the validation metrics must count every image once (3 images over 2 ranks: no padded duplicate)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.bundles.classification_cases import TINY_NETWORKS, tiny_datalist
from tests.utils import REPO_ROOT

pytestmark = [pytest.mark.bundle, pytest.mark.data]


def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    name = "medmamba"
    datalist_path, classes = tiny_datalist(name, tmp_path / "data")
    datalist = json.loads(datalist_path.read_text())
    datalist["validation"] = datalist["validation"] + datalist["test"][:1]  # 3 images: uneven over 2 ranks
    datalist_path.write_text(json.dumps(datalist))
    out = tmp_path / "run"
    config = f"['bundles/{name}/configs/train.json','bundles/{name}/configs/multi_gpu_train.json']"
    args = {
        "datalist": str(datalist_path),
        "class_names": json.dumps(classes),
        "output_dir": str(out / "eval"),
        "ckpt_dir": str(out / "models"),
        "image_size": "32",
        "num_workers": "0",
        "train_batch_size": "2",
        "val_batch_size": "1",
        "max_epochs": "2",
        "progress_bar": "False",
        **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in TINY_NETWORKS[name].items()},
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2"]
    cmd += ["-m", "monai.bundle", "run", "training", "--config_file", config]
    cmd += [part for k, v in args.items() for part in (f"--{k}", v)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "models" / "model.pt").is_file()
    state = torch.load(out / "models" / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in state["model"]), "the DDP wrapper must not leak into checkpoints"
    assert state["trainer"]["iteration"] == 2 * state["trainer"]["epoch_length"] == 2  # 4 images / 2 ranks / batch 2
    report = json.loads((out / "eval" / "validation" / "classification_report.json").read_text())
    assert report["num_samples"] == 3
    assert sum(sum(row) for row in report["confusion_matrix"]) == 3
    assert (out / "eval" / "training_curves.png").is_file()
