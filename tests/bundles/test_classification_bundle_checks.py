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
"""The model-zoo gates of every classification bundle, offline: ``verify_metadata`` against the 20240725 schema,
``verify_net_in_out network_def`` and a traced ``ckpt_export`` whose outputs equal the PyTorch model's; plus the
required files and config ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, ckpt_export, verify_metadata, verify_net_in_out

from tests.bundles.classification_cases import (
    CLASSIFICATION_BUNDLES,
    IMAGE_SIZE,
    TINY_NETWORKS,
    bundle_dir,
    config_paths,
    schema_file,
)

pytestmark = pytest.mark.bundle

REQUIRED_FILES = (
    "LICENSE",
    "large_files.yml",
    "docs/README.md",
    "configs/metadata.json",
    "configs/train.json",
    "configs/evaluate.json",
    "configs/inference.json",
    "configs/multi_gpu_train.json",
    "configs/logging.conf",
)


@pytest.mark.parametrize("name", CLASSIFICATION_BUNDLES)
def test_layout_and_ids(name: str) -> None:
    root = bundle_dir(name)
    missing = [f for f in REQUIRED_FILES if not (root / f).is_file()]
    assert not missing, f"{name} lacks {missing}"
    train = json.loads((root / "configs" / "train.json").read_text())
    assert isinstance(train["run"], list) and train["training"] == "@run", "one run list, both run ids"
    for key in ("bundle_root", "device", "dataset_dir", "datalist", "output_dir", "network_def", "network"):
        assert key in train
    evaluate = json.loads((root / "configs" / "evaluate.json").read_text())
    assert isinstance(evaluate["run"], list) and evaluate["evaluating"] == "@run"
    assert "\nlarge_files: []\n" in (root / "large_files.yml").read_text()  # ready for weights, no fake hashes
    card = (root / "docs" / "README.md").read_text()
    for needle in ("not for diagnosis", "## References", "## License", "python -m monai.bundle run training"):
        assert needle in card, f"model card of {name} lacks {needle!r}"


@pytest.mark.parametrize("name", CLASSIFICATION_BUNDLES)
def test_verify_metadata_offline(name: str) -> None:
    meta = bundle_dir(name) / "configs" / "metadata.json"
    assert json.loads(meta.read_text())["schema"].endswith("meta_schema_20240725.json")
    verify_metadata(meta_file=str(meta), filepath=str(schema_file()))  # an existing filepath is never downloaded


@pytest.mark.parametrize("name", CLASSIFICATION_BUNDLES)
def test_verify_net_in_out(name: str) -> None:
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(bundle_dir(name) / "configs" / "metadata.json"),
        config_file=config_paths(name, "inference.json")[0],
        device="cpu",
        **TINY_NETWORKS[name],
    )


@pytest.mark.parametrize("name", CLASSIFICATION_BUNDLES)
def test_ckpt_export_matches_pytorch(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = config_paths(name, "inference.json")[0]
    parser = ConfigParser()
    parser.read_config(config)
    parser.update(TINY_NETWORKS[name])
    net = parser.get_parsed_content("network_def").eval()
    ckpt, exported = tmp_path / "model.pt", tmp_path / "model.ts"
    torch.save(net.state_dict(), ckpt)
    ckpt_export(
        net_id="network_def",
        filepath=str(exported),
        ckpt_file=str(ckpt),
        meta_file=str(bundle_dir(name) / "configs" / "metadata.json"),
        config_file=config,
        use_trace=True,
        input_shape=[1, 3, IMAGE_SIZE, IMAGE_SIZE],
        **TINY_NETWORKS[name],
    )
    extra = {"metadata.json": "", "inference.json": ""}
    scripted = torch.jit.load(str(exported), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["network_data_format"]["outputs"]["pred"]["num_channels"] > 1
    x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x), rtol=1e-4, atol=1e-5)
