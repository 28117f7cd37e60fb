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
from monai.bundle import ConfigParser, ConfigWorkflow
from PIL import Image
from torch.utils.data import WeightedRandomSampler

from monai_fusion import bundle_utils
from monai_fusion.data import build_train_sampler, class_weights
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
    weights = class_weights(DATALIST)
    torch.testing.assert_close(weights, torch.tensor([8 / (2 * 6), 8 / (2 * 2), 0.0]))
    sampler = build_train_sampler(DATALIST, "weighted_sampler", seed=0)
    assert isinstance(sampler, WeightedRandomSampler) and len(sampler) == 8
    labels = [DATALIST["training"][i]["label"] for _ in range(200) for i in sampler]
    assert abs(np.mean(labels) - 0.5) < 0.05, "both classes must be drawn about equally often"
    assert build_train_sampler(DATALIST, "weighted_loss") is None
    with pytest.raises(ValueError, match="single-process"):
        build_train_sampler(DATALIST, "weighted_sampler", distributed=True)
    with pytest.raises(ValueError, match="imbalance"):
        build_train_sampler(DATALIST, "oversample")


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


def test_no_decay_param_groups() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Linear(2, 2))
    decay, no_decay = bundle_utils.no_decay_param_groups(net, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert [p.ndim for p in decay["params"]] == [4, 2]
    assert len(no_decay["params"]) == 4  # conv bias, BN weight and bias, linear bias


def test_bundle_preprocessing_is_declared_in_json(tmp_path: Path) -> None:
    """The classification preprocessing is the JSON list itself: one step can be overridden by its position in the
    Compose, as a MONAI user would (``--validate#preprocessing#transforms#K#...``)."""
    config = [str(REPO_ROOT / "bundles" / "cdfinet" / "configs" / "train.json")]
    parser = ConfigParser()
    parser.read_config(config)
    steps = parser["validate#preprocessing#transforms"]
    names = [step["_target_"].rsplit(".", 1)[-1] for step in steps]
    assert names[:6] == ["CopyItemsd", "LoadMedicalImaged", "As2DImaged", "EnsureRGBd", "ShadesOfGrayd", "ToUnitRanged"]
    crop = names.index("CenterSpatialCropd")
    parser.update({"image_size": 32, "eval_resize_ratio": 1.25})
    parser[f"validate#preprocessing#transforms#{crop}#roi_size"] = [24, 24]
    chain = parser.get_parsed_content("validate#preprocessing")
    assert "ShadesOfGrayd" not in [type(t).__name__ for t in chain.transforms], "colour_constancy false drops it"
    img = Image.fromarray((np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8))
    img.save(tmp_path / "x.png")
    out = chain({"image": str(tmp_path / "x.png")})
    assert out["image"].shape == (3, 24, 24) and type(out["image"]) is torch.Tensor
    assert out["image_path"].endswith("x.png")


def test_limit_items_keeps_every_class_and_is_reproducible() -> None:
    items = [{"image": f"{k}_{i}.png", "label": k} for k in range(3) for i in range(10)]
    picked = bundle_utils.limit_items(items, 6, seed=1)
    assert len(picked) == 6 and sorted({it["label"] for it in picked}) == [0, 1, 2]
    assert picked == bundle_utils.limit_items(items, 6, seed=1) and picked != bundle_utils.limit_items(items, 6, seed=2)
    assert [items.index(it) for it in picked] == sorted(items.index(it) for it in picked), "original order kept"
    masks = [{"image": f"{i}.png", "label": f"{i}_mask.png"} for i in range(10)]
    assert len(bundle_utils.limit_items(masks, 4)) == 4
    assert bundle_utils.limit_items(masks, 20) == masks
    with pytest.raises(ValueError, match="max_train_items"):
        bundle_utils.limit_items(items, 0)


def test_training_record_round_trip(tmp_path: Path) -> None:
    """What training records is what evaluation and inference build: config-form network, resolved values."""
    parser = ConfigParser(
        {
            "class_names": ["a", "b", "c"],
            "num_classes": "$len(@class_names)",
            "image_size": 32,
            "network_def": {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": "@num_classes"},
            "keys": ["network_def", "image_size", "class_names"],
            "save": "$bundle_utils.save_training_record(@ckpt_dir, @keys)",
            "ckpt_dir": str(tmp_path),
            "imports": ["$import monai_fusion.bundle_utils as bundle_utils"],
        }
    )
    parser.get_parsed_content("save")
    record = bundle_utils.load_training_record(str(tmp_path))
    assert record["network_def"] == {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 3}
    assert record["image_size"] == 32 and record["class_names"] == ["a", "b", "c"]
    net = bundle_utils.recorded_network(record, lambda: pytest.fail("the default must not be built"))
    assert isinstance(net, torch.nn.Linear) and net.out_features == 3
    default = torch.nn.Identity()
    assert bundle_utils.recorded_network({}, lambda: default) is default
    assert bundle_utils.load_training_record(str(tmp_path / "none")) == {}
    (tmp_path / bundle_utils.TRAINING_RECORD).write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        bundle_utils.load_training_record(str(tmp_path))


def test_physical_cpu_count_counts_cores_not_hyperthreads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 cores x 2 hyper-threads: logical CPUs 0 and 2 share core 0, 1 and 3 share core 1
    blocks = [f"processor\t: {cpu}\nphysical id\t: 0\ncore id\t\t: {cpu % 2}\n" for cpu in range(4)]
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("\n".join(blocks))
    monkeypatch.setattr(bundle_utils.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert bundle_utils.physical_cpu_count(str(cpuinfo)) == 2
    monkeypatch.setattr(bundle_utils.os, "sched_getaffinity", lambda pid: {0, 2}, raising=False)  # one core allowed
    assert bundle_utils.physical_cpu_count(str(cpuinfo)) == 1
    # no core ids (other platforms): the usable logical CPUs
    assert bundle_utils.physical_cpu_count(str(tmp_path / "missing")) == 2
    assert bundle_utils.physical_cpu_count() >= 1


def test_every_bundle_config_sets_num_threads() -> None:
    for configs in sorted((REPO_ROOT / "bundles").glob("*/configs")):
        for name in ("train.json", "evaluate.json", "inference.json", "multi_gpu_train.json"):
            config = ConfigParser.load_config_file(configs / name)
            assert "$torch.set_num_threads(int(@num_threads))" in config["initialize"], (configs, name)
        for name in ("train.json", "inference.json"):
            config = ConfigParser.load_config_file(configs / name)
            assert config["num_threads"] == "$bundle_utils.physical_cpu_count()", (configs, name)
        # extra configs with their own workflow (not layered on train.json / inference.json): the CT segmentation ones
        for extra in sorted(configs.glob("*_ct.json")):
            config = ConfigParser.load_config_file(extra)
            if "initialize" in config:
                assert "$torch.set_num_threads(int(@num_threads))" in config["initialize"], extra
                assert config["num_threads"] == "$bundle_utils.physical_cpu_count()", extra
