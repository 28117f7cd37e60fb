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
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from PIL import Image
from torch.utils.data import WeightedRandomSampler

from monai_fusion import bundle_utils
from tests.utils import REPO_ROOT

DATALIST = {
    "num_classes": 3,
    "class_names": ["a", "b", "c"],
    "training": [{"label": 0}] * 6 + [{"label": 1}] * 2,
}


def test_locate_bundle_root_is_independent_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert bundle_utils.locate_bundle_root("hifuse") == str(REPO_ROOT / "bundles" / "hifuse")
    monkeypatch.chdir(REPO_ROOT / "bundles" / "cdfinet")
    assert bundle_utils.locate_bundle_root("cdfinet") == str(REPO_ROOT / "bundles" / "cdfinet")
    with pytest.raises(FileNotFoundError, match="--bundle_root"):
        bundle_utils.locate_bundle_root("no_such_bundle")


def test_locate_bundle_root_follows_the_running_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "copied" / "medmamba"
    (copy / "configs").mkdir(parents=True)
    for f in ("metadata.json", "inference.json"):
        (copy / "configs" / f).write_text((REPO_ROOT / "bundles" / "medmamba" / "configs" / f).read_text())
    monkeypatch.chdir(REPO_ROOT)  # ./bundles/medmamba exists here, but the workflow runs the copy
    workflow = ConfigWorkflow(config_file=str(copy / "configs" / "inference.json"), workflow_type="infer")
    workflow.initialize()
    assert workflow.bundle_root == str(copy)  # a property read goes through the workflow, which is on the stack


def test_class_weights_and_samplers() -> None:
    weights = bundle_utils.class_weights(DATALIST)
    torch.testing.assert_close(weights, torch.tensor([8 / (2 * 6), 8 / (2 * 2), 0.0]))
    sampler = bundle_utils.build_train_sampler(DATALIST, "weighted_sampler", seed=0)
    assert isinstance(sampler, WeightedRandomSampler) and len(sampler) == 8
    labels = [DATALIST["training"][i]["label"] for _ in range(200) for i in sampler]
    assert abs(np.mean(labels) - 0.5) < 0.05, "both classes must be drawn about equally often"
    assert bundle_utils.build_train_sampler(DATALIST, "weighted_loss") is None
    with pytest.raises(ValueError, match="single-process"):
        bundle_utils.build_train_sampler(DATALIST, "weighted_sampler", distributed=True)
    with pytest.raises(ValueError, match="imbalance"):
        bundle_utils.build_train_sampler(DATALIST, "oversample")


def test_latest_checkpoint(tmp_path: Path) -> None:
    for epoch in (2, 10, 9):
        (tmp_path / f"checkpoint_epoch={epoch}.pt").write_bytes(b"")
    (tmp_path / "model.pt").write_bytes(b"")
    assert bundle_utils.latest_checkpoint(str(tmp_path)).endswith("checkpoint_epoch=10.pt")
    with pytest.raises(FileNotFoundError, match="resume"):
        bundle_utils.latest_checkpoint(str(tmp_path / "empty"))


def test_list_image_files_finds_images_dicom_and_nifti(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.nii.gz").write_bytes(b"x")
    (tmp_path / "sub" / "IM0001").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 8)
    (tmp_path / "notes.txt").write_text("no image")
    found = [Path(i["image"]).name for i in bundle_utils.list_image_files(str(tmp_path))]
    assert found == ["a.png", "IM0001", "b.nii.gz"]
    with pytest.raises(FileNotFoundError):
        bundle_utils.list_image_files(str(tmp_path / "missing"))


def test_as_2d_image_and_unit_range() -> None:
    assert bundle_utils.as_2d_image(torch.zeros(1, 5, 6, 1)).shape == (1, 5, 6)
    volume = torch.arange(24.0).reshape(1, 2, 3, 4)
    torch.testing.assert_close(bundle_utils.as_2d_image(volume), volume[..., 2])
    torch.testing.assert_close(bundle_utils.to_unit_range(torch.tensor([0.0, 255.0])), torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(bundle_utils.to_unit_range(torch.tensor([-1000.0, 1000.0])), torch.tensor([0.0, 1.0]))


def test_no_decay_param_groups() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Linear(2, 2))
    decay, no_decay = bundle_utils.no_decay_param_groups(net, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert [p.ndim for p in decay["params"]] == [4, 2]
    assert len(no_decay["params"]) == 4  # conv bias, BN weight and bias, linear bias


def test_classification_transforms_shapes() -> None:
    chain = bundle_utils.classification_transforms(32, mode="eval", eval_resize_ratio=1.25)
    img = Image.fromarray((np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="mode"):
        bundle_utils.classification_transforms(32, mode="test")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        img.save(Path(d) / "x.png")
        out = chain({"image": str(Path(d) / "x.png")})
    assert out["image"].shape == (3, 32, 32) and type(out["image"]) is torch.Tensor
    assert out["image_path"].endswith("x.png")
