# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Training progress that ``GET /train/`` shows while a training runs.

MONAI Label runs a training in a child process and shows only its last 20 output lines. The app's train tasks add
:class:`TrainingProgress` to the bundle's training handlers; it writes a small JSON file after every iteration and
every epoch (atomically: written to a temporary file, then renamed)::

    {"model": "medmamba", "state": "running", "epoch": 2, "max_epochs": 50, "iteration": 4, "epoch_length": 2,
     "loss": 1.93, "metrics": {"val_accuracy": 0.5}, "best_metric": 0.5, "best_metric_epoch": 1, "updated": ...}

``epoch`` is the epoch in progress (1-based), ``metrics`` the last validation round's. The server reads the file
(:func:`read_progress`) and adds it to ``GET /train/`` as ``"progress"``. ``state`` is ``"running"`` or
``"completed"`` (the trainer finished); a training stopped with ``DELETE /train/`` leaves the last state it wrote.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def _number(value: Any) -> float | None:
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


class TrainingProgress:
    """An ignite handler that writes the training progress to ``path`` (see the module docstring).

    Args:
        path: the progress file.
        model: the model name written into the file.
        validator: the bundle's evaluator (``@validate#evaluator``), for the validation metrics; optional.
    """

    def __init__(self, path: str, model: str = "", validator: Any = None) -> None:
        self.path = Path(path)
        self.model = model
        self.validator = validator

    def attach(self, engine: Any) -> None:
        """Write after each iteration and each epoch (after validation) of ``engine``, and at its end."""
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self.write, "running")
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.write, "running")
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.write, "running")
        engine.add_event_handler(Events.COMPLETED, self.write, "completed")

    def write(self, engine: Any, state: str) -> None:
        """Write the progress of ``engine`` now."""
        from monai.handlers import from_engine

        s = engine.state
        loss = None
        if s.output is not None:
            try:
                # a dict, or a list of per-item dicts (MONAI's decollated output): the loss is the batch's
                output = s.output if isinstance(s.output, dict) else from_engine(["loss"], first=True)(s.output)
                loss = _number(output["loss"] if isinstance(output, dict) else output)
            except (KeyError, TypeError, IndexError):
                loss = None
        progress: dict[str, Any] = {
            "model": self.model,
            "state": state,
            "epoch": s.epoch,
            "max_epochs": s.max_epochs,
            "iteration": s.iteration,
            "epoch_length": s.epoch_length,
            "loss": loss,
            "metrics": {},
            "best_metric": None,
            "best_metric_epoch": None,
            "updated": time.time(),
        }
        v = getattr(self.validator, "state", None)
        if v is not None:
            progress["metrics"] = {k: _number(m) for k, m in (v.metrics or {}).items() if _number(m) is not None}
            best_epoch = getattr(v, "best_metric_epoch", -1)
            if isinstance(best_epoch, int) and best_epoch > 0:  # MONAI's evaluators start at -1: no validation yet
                progress["best_metric"] = _number(getattr(v, "best_metric", None))
                progress["best_metric_epoch"] = best_epoch
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".progress-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(progress, f)
        os.replace(tmp, self.path)


def read_progress(path: str | os.PathLike) -> dict[str, Any] | None:
    """The progress written to ``path``, or None (no file yet, or unreadable)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
