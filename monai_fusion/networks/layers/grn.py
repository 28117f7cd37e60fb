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
"""Global Response Normalisation (ConvNeXt-V2, Woo et al., CVPR 2023, arXiv:2301.00808), channels-first.

Re-implemented from the paper's description; no code copied.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GRN"]


class GRN(nn.Module):
    """Global Response Normalisation for (B, C, H, W) tensors.

    Per channel, the L2 norm over H x W is divided by its mean over channels (+ ``eps``); then
    ``out = gamma * (x * N) + beta + x``. ``gamma`` and ``beta`` start at zero, so the layer is the identity at init.

    Args:
        num_channels: C.
        eps: added to the channel mean of the norms.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1, num_channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, num_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.linalg.vector_norm(x, ord=2, dim=(2, 3), keepdim=True)
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)
        return self.gamma * (x * nx) + self.beta + x
