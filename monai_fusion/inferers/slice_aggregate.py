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
"""Volume-level classification with a 2-D classifier: every slice classified, the slice probabilities averaged.

Written for this project on MONAI's ``Inferer`` interface; no code copied. MONAI's ``SliceInferer`` runs a 2-D
network slice by slice but returns a *spatial* output (a segmentation); a classifier returns one score vector per
slice, which has to be reduced to one per volume. The rule used here: **the volume's class probabilities are the mean
of its slices' softmax probabilities** (each slice weighs the same). The inferer returns ``log`` of that mean, so
that the bundles' usual ``Activationsd(softmax=True)`` postprocessing gives back exactly the mean probabilities and
the predicted class is the one with the highest mean probability. A 2-D input (one slice) gives that slice's
prediction unchanged (up to floating point).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer

__all__ = ["SliceAggregateInferer"]


class SliceAggregateInferer(Inferer):
    """Classify each slice of a volume with a 2-D network and average the slice probabilities.

    Input ``(B, C, H, W, D)`` with slices along ``spatial_dim`` (default the last, axial for RAS volumes), or a
    2-D batch ``(B, C, H, W)``; output ``(B, K)`` log mean probabilities (see the module notes).

    Args:
        spatial_dim: spatial axis (0, 1 or 2) that indexes the slices.
        slice_batch_size: slices sent to the network at once (memory vs speed).

    Example::

        inferer = SliceAggregateInferer(slice_batch_size=16)
        probs = torch.softmax(inferer(volume, classifier), dim=1)  # = mean of the slices' softmax
    """

    def __init__(self, spatial_dim: int = 2, slice_batch_size: int = 16) -> None:
        super().__init__()
        if spatial_dim not in (0, 1, 2):
            raise ValueError(f"SliceAggregateInferer: spatial_dim must be 0, 1 or 2, got {spatial_dim}.")
        if slice_batch_size < 1:
            raise ValueError(f"SliceAggregateInferer: slice_batch_size must be >= 1, got {slice_batch_size}.")
        self.spatial_dim = spatial_dim
        self.slice_batch_size = slice_batch_size

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """
        Args:
            inputs: ``(B, C, H, W, D)`` volumes or ``(B, C, H, W)`` images.
            network: a 2-D classifier returning ``(N, K)`` logits.
            args: more positional arguments for ``network``.
            kwargs: more keyword arguments for ``network``.
        """
        if inputs.ndim == 4:
            return torch.log_softmax(network(inputs, *args, **kwargs).float(), dim=1)
        if inputs.ndim != 5:
            raise ValueError(
                f"SliceAggregateInferer expects (B, C, H, W, D) or (B, C, H, W), got shape {tuple(inputs.shape)}."
            )
        slices = inputs.movedim(self.spatial_dim + 2, 1)  # (B, D, C, H, W)
        batch, depth = slices.shape[:2]
        flat = slices.reshape(batch * depth, *slices.shape[2:])
        probs = torch.cat(
            [
                torch.softmax(network(flat[i : i + self.slice_batch_size], *args, **kwargs).float(), dim=1)
                for i in range(0, flat.shape[0], self.slice_batch_size)
            ]
        )
        mean = probs.reshape(batch, depth, -1).mean(dim=1)
        return torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))
