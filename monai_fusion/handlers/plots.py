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
"""Plots of the bundle workflows: the training-curves handler, and confusion-matrix and ROC-curve figures.

Part of the bundle workflows (training curves plot); written for this project, no code copied. matplotlib is imported
lazily (``Agg`` backend) through ``monai.utils.optional_import`` when the first figure is drawn, so importing this
module needs neither matplotlib nor a display.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.handlers import from_engine
from monai.utils import IgniteInfo, min_version, optional_import

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["TrainingCurvesPlotter", "plot_confusion_matrix", "plot_roc_curves", "process_cpu_seconds", "pyplot_agg"]


def process_cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (e.g. ``DataLoader`` workers), in seconds.

    Uses ``resource.getrusage`` (``RUSAGE_SELF`` + ``RUSAGE_CHILDREN``) where it exists, else ``time.process_time()``
    (this process only).
    """
    try:
        import resource
    except ImportError:  # not Unix
        return time.process_time()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pyplot_agg() -> Any:
    """Return ``matplotlib.pyplot`` bound to the non-interactive ``Agg`` backend.

    Raises:
        OptionalImportError: matplotlib is not installed (``pip install matplotlib``).
    """
    matplotlib, _ = optional_import("matplotlib")
    matplotlib.use("Agg", force=False)
    plt, _ = optional_import("matplotlib.pyplot")
    return plt


def _scalar_values(value: Any) -> list[float] | None:
    """Flatten a metric value to a list of floats (1 for a scalar, C for a per-class vector); None if not numeric."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim <= 1 and value.size and value.dtype != bool:
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        if np.issubdtype(arr.dtype, np.number):
            return [float(v) for v in np.atleast_1d(arr)]
    return None


class TrainingCurvesPlotter:
    """Plot the training loss and the validation metrics, epoch by epoch, into one PNG file.

    ``TrainingCurvesPlotter(output_dir, filename="training_curves.png", evaluator=None,
    output_transform=None, save_rank=0, history_filename="training_curves.csv")``

    Attach it to the trainer. It averages the loss of every iteration of an epoch; when ``evaluator`` is given it
    records every numeric entry of ``evaluator.state.metrics`` (scalars, and per-class vectors as one line per
    class) after each evaluation, against the trainer epoch. The figure (top panel: loss; bottom panel: metrics)
    is rewritten at the end of every trainer epoch and after every evaluation, on rank ``save_rank`` only.

    The same numbers go to ``history_filename`` (CSV, one row per epoch: ``epoch, train_loss, cpu_s, wall_s`` and one
    column per metric, ``name[i]`` for vectors), where ``cpu_s`` / ``wall_s`` are the CPU seconds
    (:func:`process_cpu_seconds`: this process and its finished children, such as data-loader workers) and the wall
    seconds since training started, taken at the end of the epoch, i.e. after its validation. They make
    comparisons "at equal epochs" and "at equal CPU time" possible from the curves alone (``scripts/study.py``).
    After a resume the clocks continue from the last recorded epoch.

    The recorded history is exposed by :meth:`state_dict` / :meth:`load_state_dict`, so the plotter can be put in
    a ``CheckpointSaver`` ``save_dict`` and the curves continue after a resumed run.

    Args:
        output_dir: folder of the PNG file (created if needed).
        filename: name of the PNG file.
        evaluator: the validation engine whose ``state.metrics`` are plotted; None plots the loss only.
        output_transform: maps ``engine.state.output`` of the trainer to the loss value; None means
            ``from_engine(["loss"], first=True)`` (the output of ``SupervisedTrainer``).
        save_rank: the rank that records and writes (the loss is that rank's own loss).
        history_filename: name of the CSV file of the per-epoch history in ``output_dir``; None writes none.
    """

    def __init__(
        self,
        output_dir: str,
        filename: str = "training_curves.png",
        evaluator: Engine | None = None,
        output_transform: Callable | None = None,
        save_rank: int = 0,
        history_filename: str | None = "training_curves.csv",
    ) -> None:
        if not filename.lower().endswith(".png"):
            raise ValueError(f"filename must end with '.png', got {filename!r}.")
        self.history_filename = history_filename
        self.time_history: dict[int, tuple[float, float]] = {}
        self._clock_start: tuple[float, float] = (0.0, 0.0)
        self.output_dir = output_dir
        self.filename = filename
        self.evaluator = evaluator
        self.output_transform = output_transform if output_transform is not None else from_engine(["loss"], first=True)
        self.save_rank = save_rank
        self.loss_history: dict[int, float] = {}
        self.metric_history: dict[str, dict[int, list[float]]] = {}
        self._epoch_losses: list[float] = []
        self._trainer: Engine | None = None

    @property
    def filepath(self) -> str:
        """Full path of the PNG file."""
        return os.path.join(self.output_dir, self.filename)

    def attach(self, engine: Engine) -> None:
        """Register the loss recorder and the plotting on the trainer, and the metric recorder on the evaluator.

        Args:
            engine: the trainer.
        """
        self._trainer = engine
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        if self.evaluator is not None:
            self.evaluator.add_event_handler(Events.EPOCH_COMPLETED, self._evaluation_completed)

    def _is_saver(self) -> bool:
        return idist.get_rank() == self.save_rank

    def _started(self, engine: Engine) -> None:
        # continue the clocks of a resumed run from its last recorded epoch
        cpu0, wall0 = self.time_history[max(self.time_history)] if self.time_history else (0.0, 0.0)
        self._clock_start = (process_cpu_seconds() - cpu0, time.perf_counter() - wall0)

    def _epoch_started(self, engine: Engine) -> None:
        self._epoch_losses = []

    def _iteration_completed(self, engine: Engine) -> None:
        loss = self.output_transform(engine.state.output)
        values = _scalar_values(loss)
        if values is not None:
            self._epoch_losses.append(values[0])

    def _epoch_completed(self, engine: Engine) -> None:
        if self._epoch_losses:
            self.loss_history[int(engine.state.epoch)] = float(np.mean(self._epoch_losses))
        self.time_history[int(engine.state.epoch)] = (
            process_cpu_seconds() - self._clock_start[0],
            time.perf_counter() - self._clock_start[1],
        )
        if self._is_saver():
            self.plot()
            self.write_history()

    def _evaluation_completed(self, evaluator: Engine) -> None:
        epoch = int(self._trainer.state.epoch) if self._trainer is not None else int(evaluator.state.epoch)
        for name, value in evaluator.state.metrics.items():
            values = _scalar_values(value)
            if values is not None:
                self.metric_history.setdefault(name, {})[epoch] = values
        if self._is_saver():
            self.plot()

    def state_dict(self) -> dict[str, Any]:
        """The recorded loss and metric histories."""
        return {
            "loss_history": dict(self.loss_history),
            "metric_history": {k: dict(v) for k, v in self.metric_history.items()},
            "time_history": {k: list(v) for k, v in self.time_history.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the histories saved by :meth:`state_dict`.

        Args:
            state_dict: the mapping returned by :meth:`state_dict`.
        """
        self.loss_history = {int(k): float(v) for k, v in state_dict.get("loss_history", {}).items()}
        self.metric_history = {
            name: {int(k): [float(x) for x in v] for k, v in hist.items()}
            for name, hist in state_dict.get("metric_history", {}).items()
        }
        self.time_history = {int(k): (float(v[0]), float(v[1])) for k, v in state_dict.get("time_history", {}).items()}

    def write_history(self) -> str | None:
        """Write the per-epoch history (loss, CPU and wall seconds, metrics) as CSV to ``history_filename``.

        Returns:
            the path written, or None when ``history_filename`` is None or nothing has been recorded yet.
        """
        if self.history_filename is None:
            return None
        epochs = sorted(
            set(self.loss_history) | set(self.time_history) | {e for h in self.metric_history.values() for e in h}
        )
        if not epochs:
            return None
        columns: list[tuple[str, str, int]] = []
        for name, hist in sorted(self.metric_history.items()):
            width = max(len(v) for v in hist.values())
            columns += [(name if width == 1 else f"{name}[{i}]", name, i) for i in range(width)]
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, self.history_filename)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "train_loss", "cpu_s", "wall_s", *[c[0] for c in columns]])
            for e in epochs:
                cpu_wall = self.time_history.get(e)
                row: list[Any] = [e, self.loss_history.get(e, "")]
                row += [f"{cpu_wall[0]:.3f}", f"{cpu_wall[1]:.3f}"] if cpu_wall else ["", ""]
                for _, name, i in columns:
                    values = self.metric_history[name].get(e)
                    row.append(values[i] if values is not None and i < len(values) else "")
                writer.writerow(row)
        os.replace(tmp, path)
        return path

    def plot(self) -> str | None:
        """Draw the recorded histories into :attr:`filepath`.

        Returns:
            the path written, or None when nothing has been recorded yet.
        """
        if not self.loss_history and not self.metric_history:
            return None
        plt = pyplot_agg()
        ticker, _ = optional_import("matplotlib.ticker")
        os.makedirs(self.output_dir, exist_ok=True)
        n_panels = 2 if self.metric_history else 1
        fig, axes = plt.subplots(n_panels, 1, figsize=(7, 3.2 * n_panels), squeeze=False)
        ax = axes[0, 0]
        epochs = sorted(self.loss_history)
        ax.plot(epochs, [self.loss_history[e] for e in epochs], marker="o", label="training loss")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        if self.metric_history:
            ax = axes[1, 0]
            for name, hist in sorted(self.metric_history.items()):
                m_epochs = sorted(hist)
                width = max(len(hist[e]) for e in m_epochs)
                for i in range(width):
                    pts = [(e, hist[e][i]) for e in m_epochs if i < len(hist[e])]
                    label = name if width == 1 else f"{name}[{i}]"
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            ax.set_ylabel("validation metric")
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best", fontsize="x-small", ncol=2)
        fig.tight_layout()
        fig.savefig(self.filepath, dpi=100)
        plt.close(fig)
        return self.filepath


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str], filepath: str) -> str:
    """Save a confusion matrix as a PNG heat map (rows: true class, columns: predicted; colour = row-normalised
    recall, text = counts).

    Args:
        matrix: K x K counts.
        class_names: the K class names.
        filepath: PNG file to write (its folder is created).

    Returns:
        ``filepath``.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    k = counts.shape[0]
    rows = counts.sum(axis=1, keepdims=True)
    recall = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    plt = pyplot_agg()
    size = max(4.0, 0.6 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(recall, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(k), labels=list(class_names), rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(k), labels=list(class_names), fontsize="small")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color="white" if recall[i, j] > 0.5 else "black")
    ax.set_title(f"confusion matrix (n = {int(counts.sum())})")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
    fig.savefig(filepath, dpi=100)
    plt.close(fig)
    return filepath


def plot_roc_curves(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], aucs: Sequence[float], class_names: Sequence[str], filepath: str
) -> str:
    """Save one-vs-rest ROC curves of every class (those with both positives and negatives) as a PNG.

    Args:
        curves: per class ``(fpr, tpr)``; NaN arrays mark an undefined curve, which is skipped.
        aucs: per-class ROC-AUC, shown in the legend.
        class_names: the class names.
        filepath: PNG file to write (its folder is created).

    Returns:
        ``filepath``.
    """
    plt = pyplot_agg()
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1)
    for (fpr, tpr), auc, name in zip(curves, aucs, class_names):
        fpr, tpr = np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
        if fpr.size < 2 or np.isnan(fpr).any():
            continue
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {auc:.3f})")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title("one-vs-rest ROC curves")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="x-small")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
    fig.savefig(filepath, dpi=100)
    plt.close(fig)
    return filepath
