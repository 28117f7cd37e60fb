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
"""Security (issue 8): checkpoints are loaded with ``torch.load(weights_only=True)``, so a checkpoint carrying a
malicious pickle is refused by every loading path the bundles use and its payload never runs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from ignite.engine import Engine
from monai.bundle import ConfigParser
from monai.handlers import CheckpointLoader

from tests.bundles.classification_cases import CLASSIFICATION_BUNDLES, bundle_dir

BUNDLES = (*CLASSIFICATION_BUNDLES, "mfsf2net_segmentation")


class _Payload:
    """Unpickling this object calls ``open(marker, "w")``: arbitrary code that would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def _malicious_checkpoint(folder: Path, name: str, marker: Path) -> Path:
    net = torch.nn.Linear(2, 2)
    path = folder / name
    torch.save({"model": net.state_dict(), "trainer": {"epoch": 1, "payload": _Payload(marker)}}, path)
    assert not marker.exists()
    return path


def test_payload_really_runs_without_weights_only(tmp_path: Path) -> None:
    """Control: the file is truly malicious; an unrestricted ``torch.load`` runs the payload."""
    marker = tmp_path / "pwned"
    path = _malicious_checkpoint(tmp_path, "checkpoint_epoch=1.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_monai_checkpoint_loader_refuses_malicious_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _malicious_checkpoint(tmp_path, "model.pt", marker)
    loader = CheckpointLoader(load_path=str(path), load_dict={"model": torch.nn.Linear(2, 2)})
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        loader(Engine(lambda engine, batch: None))
    assert not marker.exists()


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_resume_loader_refuses_malicious_pickle(name: str, tmp_path: Path) -> None:
    """The ``CheckpointLoader`` of each bundle's ``train.json`` resume path, built from the config itself."""
    marker = tmp_path / "pwned"
    _malicious_checkpoint(tmp_path, "checkpoint_epoch=1.pt", marker)
    parser = ConfigParser()
    parser.read_config(bundle_dir(name) / "configs" / "train.json")
    parser.update({"resume": True, "ckpt_dir": str(tmp_path), "device": "$torch.device('cpu')"})
    loader_key = "resume_loader"
    parser[f"{loader_key}#load_dict"] = {"model": "$torch.nn.Linear(2, 2)"}
    loader = parser.get_parsed_content(loader_key)
    assert isinstance(loader, CheckpointLoader)
    assert Path(loader.load_path).name == "checkpoint_epoch=1.pt"
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        loader(Engine(lambda engine, batch: None))
    assert not marker.exists()


@pytest.mark.parametrize("name", BUNDLES)
@pytest.mark.parametrize("config", ["evaluate.json", "inference.json"])
def test_bundle_evaluate_and_inference_load_through_checkpoint_loader(name: str, config: str) -> None:
    """Evaluation and inference load weights only through MONAI's ``CheckpointLoader`` (here its subclass that explains
    a mismatch; no other ``torch.load``)."""
    from monai.handlers import CheckpointLoader

    from monai_fusion.handlers import TrainedCheckpointLoader

    text = (bundle_dir(name) / "configs" / config).read_text()
    assert "torch.load" not in text and "pickle" not in text
    assert json.dumps("monai_fusion.handlers.TrainedCheckpointLoader") in text
    assert issubclass(TrainedCheckpointLoader, CheckpointLoader)


def test_no_unrestricted_torch_load_in_our_code() -> None:
    """Every ``torch.load`` in the package, bundles and scripts passes ``weights_only=True``."""
    root = bundle_dir("cdfinet").parents[1]
    for folder in ("monai_fusion", "bundles", "scripts"):
        for path in (root / folder).rglob("*"):
            if path.suffix not in (".py", ".json", ".yaml") or not path.is_file():
                continue
            for line in path.read_text().splitlines():
                if "torch.load(" in line:
                    assert "weights_only=True" in line, f"{path}: {line.strip()}"
