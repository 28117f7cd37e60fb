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
"""The training record: what a bundle's training run built, written next to its weights and read back by evaluation,
inference, export and the MONAI Label app, so that no training override has to be repeated (``docs/bundles.md``).

The bundles call these through :mod:`monai_fusion.bundle_utils`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.utils import instantiate

import monai_fusion

__all__ = [
    "TRAINING_RECORD",
    "apply_training_record",
    "load_training_record",
    "recorded_network",
    "save_training_record",
]

logger = logging.getLogger(__name__)

#: file name of the training record, next to ``model.pt`` in the bundle's ``models`` folder.
TRAINING_RECORD = "training_record.json"


def _active_parser() -> ConfigParser:
    """The ``ConfigParser`` that is evaluating the calling config expression (found on the call stack)."""
    frame = inspect.currentframe()
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, ConfigWorkflow):
            return owner.parser
        if isinstance(owner, ConfigParser):
            return owner
        frame = frame.f_back
    raise RuntimeError("save/apply_training_record must be called from a bundle config expression.")


def _component_path(target: Any) -> Any:
    """The full dotted path of a ``_target_`` given by its short name (``"CDFINet"``); other values unchanged."""
    if isinstance(target, str) and not target.startswith("$") and "." not in target:
        from monai.bundle.config_item import ComponentLocator

        module = ComponentLocator().get_component_module_name(target)
        if isinstance(module, list):
            module = module[0]
        if module:
            return f"{module}.{target}"
    return target


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a resolved config value."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _resolved_value(parser: ConfigParser, key: str) -> Any:
    """``key``'s value as recorded: a component (``network_def``) in config form with its full ``_target_`` path and
    resolved arguments, anything else resolved."""
    raw = parser[key]
    if isinstance(raw, Mapping) and "_target_" in raw:
        spec = {"_target_": _component_path(raw["_target_"])}
        for arg in raw:
            if not str(arg).startswith("_"):
                spec[arg] = _plain(parser.get_parsed_content(f"{key}::{arg}", instantiate=False))
        return spec
    return _plain(parser.get_parsed_content(key, instantiate=False))


def save_training_record(ckpt_dir: str, keys: Sequence[str]) -> str:
    """Write ``<ckpt_dir>/training_record.json``: the resolved values of ``keys`` in the running bundle config.

    Called from the training run list, so the record holds exactly what this run built, after every command-line
    override. ``network_def`` is recorded in config form (its full ``_target_`` path and its resolved arguments); the
    other keys as their resolved values. :func:`load_training_record` reads it back.

    Args:
        ckpt_dir: the bundle's checkpoint folder (``@ckpt_dir``).
        keys: the config ids to record, e.g. ``["network_def", "image_size", "class_names"]``.

    Returns:
        the path of the record.
    """
    parser = _active_parser()
    record: dict[str, Any] = {"monai_fusion_version": monai_fusion.__version__}
    record.update({key: _resolved_value(parser, key) for key in keys if key in parser})
    path = Path(ckpt_dir) / TRAINING_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=4) + "\n")
    os.replace(tmp, path)
    logger.info("training record: %s", path)
    return str(path)


def load_training_record(ckpt_dir: str) -> dict[str, Any]:
    """The record that training wrote next to the weights in ``ckpt_dir``; ``{}`` when there is none.

    Args:
        ckpt_dir: the bundle's checkpoint folder.

    Raises:
        ValueError: the record exists but is not valid JSON (the message names the file and the fix).
    """
    path = Path(ckpt_dir) / TRAINING_RECORD
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); delete it to fall back on the bundle's default network, or retrain."
        ) from None
    return record if isinstance(record, dict) else {}


def recorded_network(record: Mapping[str, Any], default: Any, **overrides: Any) -> torch.nn.Module:
    """The network that training recorded, or the bundle's default network when there is no record.

    ``inference.json`` declares its ``network_def`` as a call of this function, so the usual overrides still work
    (``--network_def#<arg> value``, ``monai.bundle.load(net_override=...)``, ``verify_net_in_out``): they are passed
    as ``overrides`` and win over both the record and the default.

    Args:
        record: from :func:`load_training_record`.
        default: the bundle's default network in callable mode (``"_mode_": "callable"``), or a module.
        overrides: constructor arguments that replace the recorded / default ones.
    """
    spec = record.get("network_def") if record else None
    if isinstance(spec, Mapping) and spec.get("_target_"):
        kwargs = {k: v for k, v in spec.items() if not k.startswith("_")}
        return instantiate(spec["_target_"], "default", **{**kwargs, **overrides})
    if isinstance(default, torch.nn.Module):
        if overrides:
            raise ValueError(f"cannot apply {sorted(overrides)} to an already built network; pass it in callable mode.")
        return default
    return default(**overrides)


def apply_training_record(ckpt_dir: str) -> dict[str, Any]:
    """Make the running config use what training recorded in ``<ckpt_dir>/training_record.json``.

    Called first in the ``initialize`` list of ``evaluate.json``: every recorded key (network, input size, classes,
    normalisation) replaces the config's value, so that evaluation builds exactly the trained network without the
    training overrides being repeated. Each value that differs from the config is logged. Without a record nothing
    changes (the checkpoint loader then reports a mismatch with the fix).

    Args:
        ckpt_dir: the bundle's checkpoint folder.

    Returns:
        the record (``{}`` when there is none).
    """
    record = load_training_record(ckpt_dir)
    if not record:
        return record
    parser = _active_parser()
    changes = {k: v for k, v in record.items() if k in parser and _resolved_value(parser, k) != v}
    for key, value in changes.items():
        logger.info("from %s: %s = %s", Path(ckpt_dir) / TRAINING_RECORD, key, value)
        parser[key] = value
    return record
