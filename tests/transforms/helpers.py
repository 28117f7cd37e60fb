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
"""Shared pieces of the transform tests: the three input types every transform must accept."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.data import MetaTensor

#: numpy, torch and MetaTensor inputs (MONAI's TEST_NDARRAYS idea), with readable test ids.
ARRAY_TYPES: tuple[Callable, ...] = (np.asarray, torch.as_tensor, MetaTensor)
ARRAY_IDS = ("numpy", "torch", "MetaTensor")


def to_numpy(x) -> np.ndarray:
    """A transform output as a plain numpy array."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
