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
"""Reduce a multi-label map (e.g. TotalSegmentator's or a Decathlon task's) to the chosen label values.

Written for this project following MONAI's array/dictionary transform conventions; no code copied. MONAI's
``MapLabelValue`` leaves values it is not told about unchanged, so it cannot drop the other organs of a
multi-label map; :class:`SelectLabels` sets every value that is not chosen to background.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.config import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Transform
from monai.utils import TransformBackends, convert_to_tensor

__all__ = ["SelectLabels"]


class SelectLabels(Transform):
    """Keep the chosen label values of a label map, renumbered 1..N in the given order; everything else becomes 0.

    ``labels=[1]`` gives a binary mask of label 1; ``labels=[1, 5]`` gives classes 1 (was 1) and 2 (was 5), i.e.
    ``N + 1`` classes with the background. A list item may itself be a list of values merged into one class
    (``[[2, 3]]``: both kidneys as class 1). The dtype and the metadata (affine) are kept.

    Input and output ``(C, *spatial)`` (any shape), integer-valued.

    Args:
        labels: label values (or lists of values merged into one class), in output-class order.

    Raises:
        ValueError: ``labels`` is empty or names a value twice.

    Example::

        SelectLabels([1])(seg)  # spleen (TotalSegmentator / Decathlon Task09 label 1) vs background
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, labels: Sequence[int | Sequence[int]]) -> None:
        groups = [[int(v)] if isinstance(v, int | float) else [int(x) for x in v] for v in labels]
        flat = [v for group in groups for v in group]
        if not groups or not all(groups):
            raise ValueError(f"SelectLabels: labels must be a non-empty list of label values, got {labels!r}.")
        if len(set(flat)) != len(flat):
            raise ValueError(f"SelectLabels: a label value is given twice in {labels!r}.")
        if 0 in flat:
            raise ValueError("SelectLabels: 0 is the background and cannot be selected as a class.")
        self.groups = groups

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """
        Args:
            img: label map, any shape.
        """
        img_t = convert_to_tensor(img, track_meta=get_track_meta())
        out = torch.zeros_like(img_t)
        for cls, group in enumerate(self.groups, start=1):
            out[torch.isin(img_t, torch.as_tensor(group, device=img_t.device, dtype=img_t.dtype))] = cls
        return out
