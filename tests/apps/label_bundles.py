# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Test-only copies of the bundles for the MONAI Label app: tiny networks, small images, random weights.

MONAI Label reads ``configs/inference.json`` / ``configs/train.json`` of a bundle folder as they are, so the
overrides are written into copies of the configs under a temporary folder; ``models/model.pt`` holds the state dict of
a randomly initialised network built from the copied ``network_def``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser

from tests.bundles.classification_cases import IMAGE_SIZE, TINY_NETWORKS
from tests.utils import REPO_ROOT

SEGMENTATION_SIZE = 64

#: per-bundle overrides of inference.json (and train.json where the bundle has it).
INFERENCE_OVERRIDES: dict[str, dict[str, Any]] = {
    **{name: {**net, "image_size": IMAGE_SIZE, "num_workers": 0} for name, net in TINY_NETWORKS.items()},
    "mfsf2net_segmentation": {
        "spatial_size": [SEGMENTATION_SIZE, SEGMENTATION_SIZE],
        "network_def#fuse_channels": 16,
        "network_def#decoder_channels": 16,
        "num_workers": 0,
    },
}
TRAIN_OVERRIDES: dict[str, dict[str, Any]] = {
    **{
        name: {
            **net,
            "image_size": IMAGE_SIZE,
            "num_workers": 0,
            "train_batch_size": 2,
            "val_batch_size": 2,
            "warmup_epochs": 1,
            "progress_bar": False,
        }
        for name, net in TINY_NETWORKS.items()
    },
    "mfsf2net_segmentation": {
        "spatial_size": [SEGMENTATION_SIZE, SEGMENTATION_SIZE],
        "network_def#fuse_channels": 16,
        "network_def#decoder_channels": 16,
        "num_workers": 0,
        "batch_size": 2,
        "val_batch_size": 1,
        "warmup_epochs": 1,
        "num_overlays": 1,
    },
}


def rewrite_config(config_file: Path, overrides: dict[str, Any]) -> ConfigParser:
    """Set ``overrides`` (``"a#b"`` ids) in ``config_file`` in place; returns the parser of the rewritten config."""
    parser = ConfigParser()
    parser.read_config(str(config_file))
    for key, value in overrides.items():
        # bundles whose network_def is built from a training record keep the constructor under default_network_def
        if key.startswith("network_def#") and "default_network_def" in parser.get():
            key = "default_" + key
        parser[key] = value
    ConfigParser.export_config_file(parser.get(), str(config_file), indent=4)
    return parser


def make_tiny_bundle(name: str, dest: Path, weights: bool = True, seed: int = 0) -> Path:
    """Copy ``bundles/<name>`` to ``dest/<name>`` with tiny-network overrides baked into its configs.

    Args:
        name: bundle folder name.
        dest: parent folder of the copy.
        weights: also write ``models/model.pt`` (random weights of the tiny network).
        seed: torch seed of the random weights.

    Returns:
        the copied bundle folder.
    """
    bundle = dest / name
    # the tracked files only: a local run's models/ (e.g. weights installed by scripts/study.py) must not change a test
    shutil.copytree(REPO_ROOT / "bundles" / name, bundle, ignore=shutil.ignore_patterns("models", "eval", "runs"))
    configs = bundle / "configs"
    parser = rewrite_config(configs / "inference.json", INFERENCE_OVERRIDES[name])
    if name in TRAIN_OVERRIDES:
        rewrite_config(configs / "train.json", TRAIN_OVERRIDES[name])
    if weights:
        parser["bundle_root"] = str(bundle)
        torch.manual_seed(seed)
        network = parser.get_parsed_content("network_def", instantiate=True)
        (bundle / "models").mkdir(exist_ok=True)
        torch.save(network.state_dict(), bundle / "models" / "model.pt")
    return bundle
