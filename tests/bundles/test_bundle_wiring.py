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
"""Static checks of how the five bundles are wired: named references only, one ``_target_`` style, no dead
duplicates, and four classification bundles that differ only where they are declared to differ."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.utils import REPO_ROOT

BUNDLES = REPO_ROOT / "bundles"
CONFIGS = sorted(BUNDLES.glob("*/configs/*.json"))
CLASSIFICATION = ("cdfinet", "hifuse", "medmamba", "mfsf2net")

#: the keys in which the four classification bundles may differ, per config file (the drift test's contract).
DECLARED_DIFFERENCES: dict[str, set[str]] = {
    "train.json": {
        "bundle_root",
        "class_names",
        "intensity_mean",
        "intensity_std",
        "colour_constancy",
        "eval_resize_ratio",
        "dataset",
        "train_batch_size",
        "val_batch_size",
        "max_epochs",
        "learning_rate",
        "weight_decay",
        "end_lr",
        "imbalance",
        "network_def",
    },
    "inference.json": {
        "bundle_root",
        "default_class_names",
        "intensity_mean",
        "intensity_std",
        "colour_constancy",
        "eval_resize_ratio",
        "image_size",
        "gradcam_layer",
        "gradcam_channels_last",
        "network_def",
    },
    "evaluate.json": set(),
    "multi_gpu_train.json": set(),
    "logging.conf": set(),
}

#: a reference into a list by position: ``@a#b#2``, ``@a::2``, or ``#<digit>`` in an override key.
POSITIONAL = re.compile(r"(@[\w#:]*(#|::)\d+)|(^[\w#:]*(#|::)\d+($|#|::))")


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}/{key}", str(key)
            yield from _strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{path}/{i}")
    elif isinstance(node, str):
        yield path, node


def _targets(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            yield node["_target_"]
        for value in node.values():
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_no_reference_by_list_position(config: Path) -> None:
    """MONAI Label prepends a CheckpointLoader to ``train#handlers``: a positional reference would then point at the
    wrong handler. Every handler that another part of a config needs has a top-level id."""
    found = [(where, text) for where, text in _strings(json.loads(config.read_text())) if POSITIONAL.search(text)]
    assert not found, f"positional references in {config}: {found}"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_one_target_style(config: Path) -> None:
    """The model zoo's style, everywhere: MONAI's own components by their short name (what MONAI's property checks
    and MONAI Label look for, e.g. ``ValidationHandler``), everything else by its full public dotted path
    (``monai_fusion.handlers.X``, ``monai_fusion.transforms.X``, ``monai_fusion.networks.nets.X``, ``torch...``)."""
    from monai.bundle.config_item import ComponentLocator

    locator = ComponentLocator()
    wrong = []
    for target in _targets(json.loads(config.read_text())):
        if target.startswith("$"):
            continue
        if "." not in target:
            module = locator.get_component_module_name(target)
            modules = module if isinstance(module, list) else [module]
            if not module or not all(m.startswith("monai.") for m in modules):
                wrong.append(f"{target} (a short name that is not MONAI's)")
        elif target.startswith("monai."):
            wrong.append(f"{target} (use MONAI's short name)")
        elif target.startswith("monai_fusion.") and not re.fullmatch(
            r"monai_fusion\.(handlers|transforms|inferers|networks\.nets|bundle_utils)\.\w+", target
        ):
            wrong.append(f"{target} (use the public path)")
    assert not wrong, f"{config}: {wrong}"


@pytest.mark.parametrize("name", [p.name for p in sorted(BUNDLES.iterdir()) if (p / "configs").is_dir()])
def test_run_lists_are_not_duplicated(name: str) -> None:
    configs = BUNDLES / name / "configs"
    train = json.loads((configs / "train.json").read_text())
    assert isinstance(train["run"], list) and train["training"] == "@run"
    evaluate = json.loads((configs / "evaluate.json").read_text())
    assert evaluate.get("evaluating") == "@run"
    multi = json.loads((configs / "multi_gpu_train.json").read_text())
    if "run" in multi:  # only where it really adds a step (the segmentation bundle's sampler epoch)
        assert multi["run"] != train["run"] and multi["training"] == "@run"
    text = " ".join(text for _, text in _strings(train))
    for gone in ("classification_transforms", "bundle_utils.to_unit_range", "bundle_utils.as_2d_image"):
        assert gone not in text, f"{name}/train.json still calls {gone}"


@pytest.mark.parametrize("file", sorted(DECLARED_DIFFERENCES))
def test_classification_bundles_differ_only_in_declared_keys(file: str) -> None:
    """The four classification bundles are one design: their configs may differ only in the declared keys
    (hyper-parameters, class names, dataset, network), so a fix made in one cannot silently miss the others."""
    if file.endswith(".json"):
        configs = {name: json.loads((BUNDLES / name / "configs" / file).read_text()) for name in CLASSIFICATION}
        first = configs[CLASSIFICATION[0]]
        for name, config in configs.items():
            assert list(config) == list(first), f"{name}/{file} has other keys, or another order, than cdfinet's"
            differing = {key for key in config if config[key] != first[key]}
            undeclared = differing - DECLARED_DIFFERENCES[file]
            assert not undeclared, f"{name}/{file} differs from cdfinet/{file} in undeclared keys {sorted(undeclared)}"
    else:
        texts = {(BUNDLES / name / "configs" / file).read_text() for name in CLASSIFICATION}
        assert len(texts) == 1, f"the classification bundles' {file} differ"
