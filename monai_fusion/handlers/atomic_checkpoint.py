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
"""A MONAI ``CheckpointSaver`` whose files are written atomically (crash safety).

Part of the bundle workflows' reliability guarantees (docs/reliability.md); written for this project, no code copied.
MONAI 1.6's ``CheckpointSaver`` builds its ignite ``DiskSaver`` with ``atomic=False``, so a run killed while
``torch.save`` is writing leaves a truncated file under the final name (for ``model.pt``, overwriting the previous
best model). With ``atomic=True`` ignite writes to a temporary file in the same folder and moves it over the final
name with ``os.replace``, and (ignite >= 0.5) adds group/others read permission, which was MONAI's reason for
turning atomic writes off. Its :meth:`AtomicCheckpointSaver.state_dict` (best score so far) lets the bundles keep
best-model tracking across a resume.
"""

from __future__ import annotations

from typing import Any

from monai.handlers import CheckpointSaver

__all__ = ["AtomicCheckpointSaver"]


class AtomicCheckpointSaver(CheckpointSaver):
    """``monai.handlers.CheckpointSaver`` with atomic writes (temporary file, then rename).

    Takes exactly the arguments of ``monai.handlers.CheckpointSaver``; every checkpoint it writes (final, key metric,
    interval) is either the complete new file or, if the process dies while writing, the previous file untouched.

    Args:
        args: positional arguments of ``monai.handlers.CheckpointSaver``.
        kwargs: keyword arguments of ``monai.handlers.CheckpointSaver``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for checkpoint in (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint):
            if checkpoint is not None:
                checkpoint.save_handler._atomic = True

    def state_dict(self) -> dict[str, Any]:
        """The key-metric tracking state (best score(s) and file name(s) so far), the counterpart of MONAI's
        ``CheckpointSaver.load_state_dict``.

        With the saver in a resumable checkpoint's ``save_dict`` (and the ``CheckpointLoader``'s ``load_dict``), a
        resumed run keeps the best score: the first validation after a resume replaces ``model.pt`` only if it is
        better than every validation before the interruption. Empty when the saver tracks no key metric.
        """
        return self._key_metric_checkpoint.state_dict() if self._key_metric_checkpoint is not None else {}
