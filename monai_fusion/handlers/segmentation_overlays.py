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
"""Ignite handler that draws a few segmentation results (image, predicted mask, reference outline) into a PNG file.

Part of the bundle workflows (plots written by the workflow), for the 2-D segmentation bundle
``bundles/mfsf2net_segmentation``; written for this project, no code copied. matplotlib is imported lazily (``Agg``
backend, through :func:`monai_fusion.handlers.plots.pyplot_agg`) when the figure is drawn, so importing this module
needs neither matplotlib nor a display.

Shapes: the engine output items (after MONAI's decollation and post-processing) hold a channel-first 2-D image
(C, X, Y) with C in {1, 3}, a prediction (1, X', Y') and optionally a reference mask (1, X'', Y''); the masks are
resized to the image grid with nearest-neighbour interpolation for display only (after ``Invertd`` the prediction is at
the original image size while the image is still at the network size).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.utils import IgniteInfo, min_version, optional_import

from monai_fusion.handlers.plots import pyplot_agg

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["SegmentationOverlaySaver"]


def _as_2d_mask(value: Any, size: tuple[int, int], threshold: float) -> np.ndarray:
    """Binary (X, Y) mask from a (1, X', Y') tensor, resized to ``size`` with nearest-neighbour interpolation."""
    mask = torch.as_tensor(value).detach().float().cpu()
    if mask.ndim != 3 or mask.shape[0] != 1:
        raise ValueError(f"expected a single-channel 2-D mask (1, X, Y), got shape {tuple(mask.shape)}.")
    if tuple(mask.shape[1:]) != size:
        mask = F.interpolate(mask[None], size=size, mode="nearest")[0]
    return (mask[0] >= threshold).numpy()


def _as_display_image(value: Any) -> np.ndarray:
    """(X, Y, 3) float image in [0, 1] from a channel-first (C, X, Y) tensor, C in {1, 3}, by per-image min-max."""
    img = torch.as_tensor(value).detach().float().cpu()
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected a channel-first 2-D image (1 or 3, X, Y), got shape {tuple(img.shape)}.")
    img = img.expand(3, -1, -1)
    low, high = img.min(), img.max()
    img = (img - low) / (high - low) if high > low else torch.zeros_like(img)
    return img.permute(1, 2, 0).numpy()


class SegmentationOverlaySaver:
    """Save the first ``max_images`` results of every run of an engine as one PNG grid of overlays.

    Attach it to an evaluator (validation, evaluation or inference). During a run it keeps the first ``max_images``
    items of ``engine.state.output``; at the end of the run it draws each image with the predicted mask filled in red
    and, when ``label_key`` is given and present, the reference mask outlined in green, and writes the grid to
    ``output_dir/filename`` (rewritten at every run, e.g. after every validation), on rank ``save_rank`` only (each
    rank only sees its own items).

    Args:
        output_dir: folder of the PNG file (created if needed).
        filename: name of the PNG file.
        max_images: how many results to draw (at least 1).
        image_key: key of the channel-first image (1 or 3 channels) in the output items.
        pred_key: key of the predicted mask (1 channel; binarised at ``threshold``).
        label_key: key of the reference mask, or None when there is none (inference).
        threshold: masks are foreground where ``value >= threshold``.
        transpose: show the two spatial axes swapped. MONAI's PIL reader loads 2-D images as (C, width, height), so
            True shows PNG / JPEG inputs the right way up.
        save_rank: the rank that writes the file.
    """

    def __init__(
        self,
        output_dir: str,
        filename: str = "overlays.png",
        max_images: int = 8,
        image_key: str = "image",
        pred_key: str = "pred",
        label_key: str | None = "label",
        threshold: float = 0.5,
        transpose: bool = True,
        save_rank: int = 0,
    ) -> None:
        if not filename.lower().endswith(".png"):
            raise ValueError(f"filename must end with '.png', got {filename!r}.")
        if max_images < 1:
            raise ValueError(f"max_images must be at least 1, got {max_images}.")
        self.output_dir = output_dir
        self.filename = filename
        self.max_images = max_images
        self.image_key = image_key
        self.pred_key = pred_key
        self.label_key = label_key
        self.threshold = threshold
        self.transpose = transpose
        self.save_rank = save_rank
        self._items: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, str]] = []

    @property
    def filepath(self) -> str:
        """Full path of the PNG file."""
        return os.path.join(self.output_dir, self.filename)

    def attach(self, engine: Engine) -> None:
        """Collect results on every iteration of ``engine`` and draw them when its run completes.

        Args:
            engine: the evaluator (or any engine whose outputs are decollated dictionaries).
        """
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _started(self, engine: Engine) -> None:
        self._items = []

    def _iteration_completed(self, engine: Engine) -> None:
        if len(self._items) >= self.max_images or idist.get_rank() != self.save_rank:
            return
        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        for item in items:
            if len(self._items) >= self.max_images:
                break
            if isinstance(item, Mapping):
                self._items.append(self._prepare(item))

    def _prepare(self, item: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
        image = item[self.image_key]
        display = _as_display_image(image)
        size = display.shape[:2]
        pred = _as_2d_mask(item[self.pred_key], size, self.threshold)
        label = None
        if self.label_key is not None and self.label_key in item:
            label = _as_2d_mask(item[self.label_key], size, self.threshold)
        name = str(getattr(image, "meta", {}).get("filename_or_obj", ""))
        if self.transpose:
            display, pred = display.transpose(1, 0, 2), pred.T
            label = label.T if label is not None else None
        return display, pred, label, os.path.basename(name)

    def _completed(self, engine: Engine) -> None:
        if idist.get_rank() == self.save_rank:
            self.plot()

    def plot(self) -> str | None:
        """Draw the collected results into :attr:`filepath`.

        Returns:
            the path written, or None when nothing has been collected.
        """
        if not self._items:
            return None
        plt = pyplot_agg()
        os.makedirs(self.output_dir, exist_ok=True)
        cols = min(4, len(self._items))
        rows = (len(self._items) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, (image, pred, label, name) in zip(axes.ravel(), self._items):
            overlay = image.copy()
            overlay[pred] = 0.6 * overlay[pred] + 0.4 * np.array([1.0, 0.0, 0.0])
            ax.imshow(overlay)
            if label is not None and label.any() and not label.all():
                ax.contour(label.astype(float), levels=[0.5], colors="lime", linewidths=1.0)
            ax.set_title(name if len(name) <= 28 else "..." + name[-25:], fontsize="small")
        legend = "red: prediction" + ("; green outline: reference" if self.label_key is not None else "")
        fig.suptitle(legend, fontsize="small")
        fig.tight_layout()
        fig.savefig(self.filepath, dpi=100)
        plt.close(fig)
        return self.filepath
