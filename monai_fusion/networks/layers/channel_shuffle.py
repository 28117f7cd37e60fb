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
"""Channel shuffle (ShuffleNet, Zhang et al., CVPR 2018), for channels-first and channels-last tensors."""

from __future__ import annotations

import torch

__all__ = ["channel_shuffle"]


def channel_shuffle(x: torch.Tensor, groups: int, channel_dim: int = 1) -> torch.Tensor:
    """Split the channels into ``groups`` groups, swap the group and within-group axes, and flatten back.

    With C channels and g groups, output channel ``i * g + j`` is input channel ``j * (C // g) + i``.

    Args:
        x: a tensor with its channels on ``channel_dim``.
        groups: g; must divide the channel count.
        channel_dim: 1 for channels-first, -1 (or 3) for channels-last (B, H, W, C).
    """
    dim = channel_dim % x.dim()
    c = x.shape[dim]
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels are not divisible by groups={groups}.")
    shape = list(x.shape)
    x = x.reshape(shape[:dim] + [groups, c // groups] + shape[dim + 1 :])
    x = x.transpose(dim, dim + 1)
    return x.reshape(shape)
