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
"""Ignite handler saving Grad-CAM overlays (MONAI's ``monai.visualize.GradCAM``) for the first images of a run.

Grad-CAM: R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
ICCV 2017. Part of the bundle workflows; written for this project, no code copied.

Two details of MONAI's implementation shape this handler:

* ``GradCAM`` registers permanent forward/backward hooks on the target layer, so the maps are computed on a private
  deep copy of the network (the evaluated network stays hook-free, e.g. for a later TorchScript export);
* with ``class_idx=None`` and a batch of several images, MONAI's class score ``logits[:, argmax]`` mixes the
  predicted classes of all images of the batch, so each image is explained on its own (batch of one).

``GradCAM`` assumes channels-first activations (B, C, H, W). For a target layer whose output is channels-last
(B, H, W, C), as the stage outputs of MedMamba, set ``channels_last=True``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.utils import IgniteInfo, min_version, optional_import
from monai.visualize import GradCAM
from torch import nn

from monai_fusion.handlers.plots import pyplot_agg

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["ChannelsLastGradCAM", "GradCAMSaver"]


class ChannelsLastGradCAM(GradCAM):
    """MONAI ``GradCAM`` for a target layer whose output is channels-last (B, *spatial, C).

    Args:
        nn_module: the network.
        target_layers: name of the target layer (as in ``named_modules()``).
    """

    def compute_map(
        self, x: torch.Tensor, class_idx: int | None = None, retain_graph: bool = False, layer_idx: int = -1, **kwargs
    ) -> torch.Tensor:
        """The ReLU of the gradient-weighted channel sum, with the activations moved to channels-first."""
        _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
        acti, grad = acti[layer_idx].movedim(-1, 1), grad[layer_idx].movedim(-1, 1)
        b, c = grad.shape[:2]
        weights = grad.reshape(b, c, -1).mean(2).reshape(b, c, *[1] * (grad.ndim - 2))
        return F.relu((weights * acti).sum(1, keepdim=True))


def _stem(path: str) -> str:
    """File name without its image suffix (``.nii.gz`` included); DICOM names such as ``CT.1.2.3`` are kept."""
    name = os.path.basename(path.rstrip("/"))
    for suffix in (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _display_image(image: torch.Tensor, transpose: bool) -> np.ndarray:
    """(C, H, W) normalised network input -> (H, W, 3) float image in [0, 1] for display."""
    img = image.detach().float().cpu()
    img = img[:3] if img.shape[0] >= 3 else img[:1].expand(3, *img.shape[1:])
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
    arr = img.permute(1, 2, 0).numpy()
    return arr.transpose(1, 0, 2) if transpose else arr


class GradCAMSaver:
    """Save a Grad-CAM overlay PNG for each of the first ``num_images`` images an evaluator sees.

    Attach it to an evaluator (e.g. the one of ``inference.json``; decollated batches, MONAI's default). After each
    iteration it takes ``engine.state.batch[i][image_key]`` (the preprocessed (C, H, W) network input), explains the
    predicted class with ``GradCAM`` on a private copy of ``network`` (weights copied on first use, i.e. after any
    checkpoint loading at ``STARTED``) and writes ``<output_dir>/<image name>_gradcam.png``: the input next to the
    map overlaid on it, titled with the predicted class and its probability.

    Args:
        network: the evaluated network.
        target_layers: name of the layer to explain (``named_modules()`` name), typically the last stage.
        output_dir: destination folder.
        num_images: how many images to explain in one run.
        class_names: names of the classes, for the titles.
        channels_last: the target layer's output is (B, H, W, C) (:class:`ChannelsLastGradCAM`).
        transpose: show the image transposed; MONAI's PIL/ITK/pydicom readers put the image width first, so True
            shows 2-D files the right way round.
        image_key: key of the network input in the decollated batch.
        filename_key: key of the image's file name in the decollated batch (the PNG is named after it); when absent,
            the image's ``meta["filename_or_obj"]`` is used, else a counter.
        save_rank: the rank that writes.
    """

    def __init__(
        self,
        network: nn.Module,
        target_layers: str,
        output_dir: str,
        num_images: int = 4,
        class_names: Sequence[str] | None = None,
        channels_last: bool = False,
        transpose: bool = True,
        image_key: str = "image",
        filename_key: str = "image_path",
        save_rank: int = 0,
    ) -> None:
        if num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {num_images}.")
        names = {name for name, _ in network.named_modules()}
        if target_layers not in names:
            raise ValueError(
                f"target_layers {target_layers!r} is not a module of {type(network).__name__}; pick one of the names "
                "printed by `for n, _ in net.named_modules(): print(n)`, e.g. the last stage."
            )
        self.network = network
        self.target_layers = target_layers
        self.output_dir = output_dir
        self.num_images = num_images
        self.class_names = list(class_names) if class_names is not None else None
        self.channels_last = channels_last
        self.transpose = transpose
        self.image_key = image_key
        self.filename_key = filename_key
        self.save_rank = save_rank
        self.saved: list[str] = []
        self._cam: GradCAM | None = None

    def attach(self, engine: Engine) -> None:
        """Register the handler after every iteration of ``engine``.

        Args:
            engine: the evaluator.
        """
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _reset(self, engine: Engine) -> None:
        self.saved = []
        self._cam = None

    def _get_cam(self) -> GradCAM:
        if self._cam is None:
            module = self.network.module if hasattr(self.network, "module") else self.network
            model = copy.deepcopy(module).eval()
            for p in model.parameters():
                p.requires_grad_(True)
            cam_type = ChannelsLastGradCAM if self.channels_last else GradCAM
            self._cam = cam_type(nn_module=model, target_layers=self.target_layers)
        return self._cam

    def __call__(self, engine: Engine) -> None:
        """Explain the images of the last iteration until ``num_images`` are saved.

        Args:
            engine: the evaluator.
        """
        if len(self.saved) >= self.num_images or idist.get_rank() != self.save_rank:
            return
        batch: Any = engine.state.batch
        items = batch if isinstance(batch, list) else [batch]
        device = engine.state.device if hasattr(engine.state, "device") else torch.device("cpu")
        cam = self._get_cam()
        for item in items:
            if len(self.saved) >= self.num_images:
                break
            image = item[self.image_key]
            meta = getattr(image, "meta", None) or {}
            source = item.get(self.filename_key, meta.get("filename_or_obj", f"image_{len(self.saved)}"))
            self.saved.append(self._save_one(cam, image, str(source), device))

    def _save_one(self, cam: GradCAM, image: torch.Tensor, source: str, device: torch.device) -> str:
        x = image.as_tensor() if hasattr(image, "as_tensor") else image
        x = x[None].float().to(device)
        with torch.enable_grad():
            heat = cam(x).detach().cpu()[0, 0]
            with torch.no_grad():
                probs = torch.softmax(cam.nn_module.model(x).float(), dim=1)[0].cpu()
        label = int(probs.argmax())
        name = self.class_names[label] if self.class_names else str(label)
        stem = _stem(source) or f"image_{len(self.saved)}"
        shown = _display_image(x[0], self.transpose)
        heat_np = heat.numpy().T if self.transpose else heat.numpy()
        plt = pyplot_agg()
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
        axes[0].imshow(shown)
        axes[0].set_title("input", fontsize="small")
        axes[1].imshow(shown)
        axes[1].imshow(heat_np, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
        axes[1].set_title(f"Grad-CAM: {name} (p = {float(probs[label]):.2f})", fontsize="small")
        for ax in axes:
            ax.axis("off")
        fig.suptitle(f"{os.path.basename(source)}  [{self.target_layers}]", fontsize="x-small")
        fig.tight_layout()
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, f"{stem}_gradcam.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
