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
"""A ``CheckpointLoader`` that explains a checkpoint / network mismatch instead of a bare ``state_dict`` error.

Evaluation and inference build their network from the training record (``models/training_record.json``, see
``monai_fusion.bundle_utils.save_training_record``). When the weights still do not fit (an old checkpoint without a
record, weights copied from another run, or a network requested on the command line), this loader stops with a
message that names the checkpoint, the network that was requested, the one recorded at training, and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ignite.engine import Engine
from monai.handlers import CheckpointLoader

__all__ = ["CheckpointMismatchError", "TrainedCheckpointLoader"]


class CheckpointMismatchError(RuntimeError):
    """The weights of a checkpoint do not fit the network they are loaded into."""


def _summary(text: str) -> str:
    """A short account of a ``load_state_dict`` error: counts and a few examples instead of hundreds of keys."""
    parts = []
    for label, pattern in (
        ("missing", r"Missing key\(s\) in state_dict: (.*?)\.(?:\s|$)"),
        ("unexpected", r"Unexpected key\(s\) in state_dict: (.*?)\.(?:\s|$)"),
    ):
        found = re.search(pattern, text, flags=re.S)
        if found:
            keys = re.findall(r'"([^"]+)"', found.group(1))
            parts.append(f"{len(keys)} {label} key(s) (e.g. {', '.join(keys[:3])})")
    shape = r"size mismatch for ([^:]+): (copying a param with shape [^,]+), (the shape in current model is [^.]+)"
    sizes = re.findall(shape, text)
    if sizes:
        name, have, want = sizes[0]
        parts.append(f"{len(sizes)} shape mismatch(es) (e.g. {name}: {have}, {want})")
    return "; ".join(parts) or text.splitlines()[0][:300]


def _describe(network: Any) -> str:
    module = getattr(network, "module", network)  # DistributedDataParallel
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__} ({sum(p.numel() for p in module.parameters()):,} parameters)"


class TrainedCheckpointLoader(CheckpointLoader):
    """``monai.handlers.CheckpointLoader`` with an actionable error when the weights do not fit.

    Args:
        load_path: the checkpoint (``models/model.pt``).
        load_dict: objects to load, e.g. ``{"model": network}``.
        training_record: the record written by training (``bundle_utils.load_training_record``), quoted in the
            error message; ``{}`` or None when there is none.
        kwargs: the other ``CheckpointLoader`` arguments (``map_location``, ``strict``, ...).
    """

    def __init__(
        self,
        load_path: str,
        load_dict: dict,
        training_record: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(load_path=load_path, load_dict=load_dict, **kwargs)
        self.training_record = dict(training_record or {})

    def __call__(self, engine: Engine) -> None:
        try:
            super().__call__(engine)
        except RuntimeError as err:
            text = str(err)
            if "state_dict" not in text and "size mismatch" not in text and "Missing key" not in text:
                raise
            network = self.load_dict.get("model", next(iter(self.load_dict.values()), None))
            recorded = self.training_record.get("network_def")
            trained = (
                f"the training record says it was trained as {recorded}"
                if recorded
                else "no training record (models/training_record.json) says how it was trained"
            )
            raise CheckpointMismatchError(
                f"the weights in {self.load_path} do not fit the requested network {_describe(network)}: "
                f"{_summary(text)}. {trained[0].upper()}{trained[1:]}. Fix: evaluate with the same network and image "
                "size as in training (pass the training overrides again, e.g. --network_def#_target_ <variant> "
                "--image_size <N>), keep the training_record.json that training wrote next to model.pt, or point "
                "--ckpt_path at the matching checkpoint."
            ) from None
