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
"""``bundles/mfsf2net/configs/train_rcm.json``: paired dermoscopy + RCM cases from a CSV train MFSF2-Net with its
``rcm`` input. No public RCM set exists, so the stand-in cases pair real HAM10000 dermoscopy images with gray,
downscaled copies of other HAM10000 images as their 4 "RCM slices" (the public CSV layout, not real RCM)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from PIL import Image

from tests.bundles.classification_cases import TINY_NETWORKS, config_paths
from tests.utils import require_data

pytestmark = [pytest.mark.bundle, pytest.mark.data]


def _stand_in_csv(folder: Path) -> Path:
    images = sorted((require_data("ham10000") / "images").glob("ISIC_*.jpg"))[:30]
    rows = []
    for i in range(6):
        rcm = []
        for k in range(4):
            path = folder / "rcm" / f"case{i}_{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.open(images[6 + 4 * i + k]).convert("L").resize((48, 40)).save(path)
            rcm.append(path.relative_to(folder).as_posix())
        label = ("benign", "malignant")[i % 2]
        rows.append([f"C{i}", f"P{i}", str(images[i]), *rcm, label])
    path = folder / "cases.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["case_id", "patient_id", "dermoscopy", "rcm_1", "rcm_2", "rcm_3", "rcm_4", "label"])
        writer.writerows(rows)
    return path


def test_train_rcm_override(tmp_path: Path) -> None:
    torch.manual_seed(0)
    csv_path = _stand_in_csv(tmp_path / "data")
    workflow = ConfigWorkflow(
        config_file=config_paths("mfsf2net", "train.json", "train_rcm.json"),
        run_id="training",
        rcm_csv=str(csv_path),
        output_dir=str(tmp_path / "eval"),
        ckpt_dir=str(tmp_path / "models"),
        split_fractions=[0.34, 0.33, 0.33],
        image_size=32,
        num_workers=0,
        train_batch_size=2,
        val_batch_size=2,
        max_epochs=1,
        progress_bar=False,
        **TINY_NETWORKS["mfsf2net"],
    )
    workflow.initialize()
    assert workflow.parser.get_parsed_content("class_names") == ["benign", "malignant"]
    item = workflow.parser.get_parsed_content("train#dataset")[0]
    assert tuple(item["image"].shape) == (3, 32, 32) and tuple(item["rcm"].shape) == (4, 3, 32, 32)
    assert np.isfinite(item["rcm"].numpy()).all()
    network = workflow.parser.get_parsed_content("network_def")
    assert network.encoder.rcm_fuse is not None and network.encoder.rcm_fuse.kernel_size == (4, 1, 1)
    before = network.encoder.rcm_fuse.weight.detach().clone()
    workflow.run()
    workflow.finalize()
    assert not torch.equal(before, network.encoder.rcm_fuse.weight), "the RCM path must receive gradients"
    assert (tmp_path / "models" / "checkpoint_epoch=1.pt").is_file()
