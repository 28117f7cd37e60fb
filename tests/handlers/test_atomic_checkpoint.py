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
"""Tests of :mod:`monai_fusion.handlers.atomic_checkpoint`: checkpoints are written to a temporary file, then
renamed, so a write that dies half-way leaves the previous file intact (plain MONAI ``CheckpointSaver`` does not)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from ignite.engine import Engine
from monai.handlers import CheckpointSaver

from monai_fusion.handlers.atomic_checkpoint import AtomicCheckpointSaver


class _DiedWhileWritingError(RuntimeError):
    pass


def _half_written_save(obj: object, f, **kwargs) -> None:
    """A ``torch.save`` that writes some bytes and then dies (a crash in the middle of writing)."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            out.write(b"partial")
    else:
        f.write(b"partial")
    raise _DiedWhileWritingError("killed while writing")


def _evaluator(score: float) -> Engine:
    engine = Engine(lambda e, b: None)
    engine.state.metrics = {"acc": score}
    engine.state.key_metric_name = "acc"
    return engine


def _save(saver_cls: type, folder: Path, net: torch.nn.Module, score: float) -> None:
    saver = saver_cls(
        save_dir=str(folder), save_dict={"model": net}, save_key_metric=True, key_metric_filename="model.pt"
    )
    saver.metrics_completed(_evaluator(score))


def test_configured_savers_are_atomic() -> None:
    saver = AtomicCheckpointSaver(
        save_dir="unused",
        save_dict={"m": torch.nn.Linear(1, 1)},
        save_final=True,
        save_key_metric=True,
        save_interval=1,
    )
    handlers = [saver._final_checkpoint, saver._key_metric_checkpoint, saver._interval_checkpoint]
    assert all(c.save_handler._atomic for c in handlers)
    plain = CheckpointSaver(save_dir="unused", save_dict={"m": torch.nn.Linear(1, 1)}, save_interval=1)
    assert not plain._interval_checkpoint.save_handler._atomic, "MONAI's default changed; revisit this handler"


def test_writes_temp_file_then_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    _save(AtomicCheckpointSaver, tmp_path, net, 0.5)
    assert len(replaced) == 1
    src, dst = replaced[0]
    assert Path(dst) == tmp_path / "model.pt" and Path(src).parent == tmp_path and Path(src).name != "model.pt"
    assert not Path(src).exists()
    loaded = torch.load(tmp_path / "model.pt", weights_only=True)
    assert torch.equal(loaded["weight"], net.weight.detach())


@pytest.mark.parametrize(("saver_cls", "survives"), [(AtomicCheckpointSaver, True), (CheckpointSaver, False)])
def test_crash_while_writing_keeps_previous_checkpoint(
    saver_cls: type, survives: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    _save(saver_cls, tmp_path, net, 0.5)
    good = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    monkeypatch.setattr(torch, "save", _half_written_save)
    with pytest.raises(_DiedWhileWritingError):
        _save(saver_cls, tmp_path, net, 0.9)
    monkeypatch.undo()
    if survives:
        assert torch.equal(torch.load(tmp_path / "model.pt", weights_only=True)["weight"], good)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"], "the temporary file must be removed"
    else:  # the control: MONAI's own saver truncates the previous best model
        with pytest.raises((RuntimeError, EOFError, pickle.UnpicklingError)):
            torch.load(tmp_path / "model.pt", weights_only=True)
