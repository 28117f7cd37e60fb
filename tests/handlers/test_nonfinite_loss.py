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
"""Tests of :mod:`monai_fusion.handlers.nonfinite_loss`: the run stops with a message naming epoch and iteration."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events

from monai_fusion.handlers.nonfinite_loss import NonFiniteLossError, StopOnNonFiniteLoss


def _trainer(losses: list[float]) -> tuple[Engine, list[int]]:
    def step(engine: Engine, batch: int) -> dict:
        return {"loss": torch.tensor(losses[engine.state.iteration - 1])}

    engine = Engine(step)
    StopOnNonFiniteLoss().attach(engine)
    completed: list[int] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: completed.append(e.state.epoch))
    return engine, completed


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_stops_at_the_first_non_finite_loss(bad: float) -> None:
    engine, completed = _trainer([1.0, 0.9, 0.8, bad, 0.5, 0.4])
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, iteration 4 \(2 of 2 in the epoch\)"):
        engine.run([0, 1], max_epochs=3)
    assert completed == [1], "epoch 2 must not complete (no checkpoint from the non-finite state)"
    assert engine.state.iteration == 4


def test_finite_losses_run_to_the_end() -> None:
    engine, completed = _trainer([1.0, 0.9, 0.8, 0.7])
    engine.run([0, 1], max_epochs=2)
    assert completed == [1, 2]


def test_custom_output_transform_and_plain_numbers() -> None:
    engine = Engine(lambda e, b: (0.0, float("nan")))
    StopOnNonFiniteLoss(output_transform=lambda out: out[1]).attach(engine)
    with pytest.raises(NonFiniteLossError, match="epoch 1, iteration 1"):
        engine.run([0], max_epochs=1)


def test_rejects_non_callable_output_transform() -> None:
    with pytest.raises(ValueError, match="output_transform must be callable"):
        StopOnNonFiniteLoss(output_transform="loss")  # type: ignore[arg-type]
