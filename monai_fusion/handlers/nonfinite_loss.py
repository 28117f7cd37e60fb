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
"""Stop training as soon as the loss is NaN or infinite (crash safety).

Part of the bundle workflows' reliability guarantees (docs/reliability.md); written for this project, no code copied.
The handler raises :class:`NonFiniteLossError` at the end of the offending iteration, before any epoch-level handler
(validation, checkpoint saving) can run, so the newest checkpoint on disk is the last one written from finite
weights. Ignite's ``TerminateOnNan`` is not used: it ends the run quietly (exit status 0) after a warning, and it
inspects every tensor of the engine output, not only the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from monai.handlers import from_engine
from monai.utils import IgniteInfo, min_version, optional_import

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["NonFiniteLossError", "StopOnNonFiniteLoss"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the epoch and iteration."""


class StopOnNonFiniteLoss:
    """Ignite handler raising :class:`NonFiniteLossError` when the training loss is not finite.

    Attach it to a trainer (a MONAI bundle lists it in ``train#handlers``). It runs on ``ITERATION_COMPLETED``; the
    error stops the run with a non-zero exit status, and no checkpoint is written from the non-finite state because
    the epoch never completes.

    Args:
        output_transform: maps ``engine.state.output`` to the loss (a number or a tensor of any shape); the default
            reads the ``loss`` entry of a MONAI trainer's output.
    """

    def __init__(self, output_transform: Callable[[Any], Any] | None = None) -> None:
        if output_transform is not None and not callable(output_transform):
            raise ValueError(
                f"output_transform must be callable (or None for the loss of a MONAI trainer), "
                f"got {type(output_transform).__name__}."
            )
        self.output_transform = output_transform or from_engine(["loss"], first=True)

    def attach(self, engine: Engine) -> None:
        """Check the loss after every iteration of ``engine``.

        Args:
            engine: the trainer.
        """
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        """Raise :class:`NonFiniteLossError` when the current loss is not finite.

        Args:
            engine: the trainer.
        """
        loss = self.output_transform(engine.state.output)
        parts = loss if isinstance(loss, (list, tuple)) else [loss]
        values = torch.cat([torch.as_tensor(p).detach().float().cpu().flatten() for p in parts])
        if bool(torch.isfinite(values).all()):
            return
        shown = values[0].item() if values.numel() == 1 else values[:4].tolist()
        state = engine.state
        in_epoch = (state.iteration - 1) % state.epoch_length + 1 if state.epoch_length else state.iteration
        raise NonFiniteLossError(
            f"non-finite training loss {shown} at epoch {state.epoch}, iteration {state.iteration} "
            f"({in_epoch} of {state.epoch_length} in the epoch): training stopped. The checkpoints already on disk "
            "were written before this epoch and are kept. Lower the learning rate, enable gradient clipping or check "
            "the data (NaN/Inf in images), then resume from the latest checkpoint with --resume true."
        )
