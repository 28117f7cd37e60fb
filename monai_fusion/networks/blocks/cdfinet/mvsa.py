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
"""MVSA, the multi-view cascaded group self-attention of CDFINet's MVBA block.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 2a and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). The cascade follows EfficientViT's cascaded group attention
(Liu et al., "EfficientViT: Memory Efficient Vision Transformer with Cascaded Group Attention", CVPR 2023).
Re-implemented from the authors' published description (figures, README); no code copied.

Shape constraints: none beyond ``channels % num_heads == 0``; any H, W (the cost is quadratic in H * W).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MVSA"]


class MVSA(nn.Module):
    """Multi-view self-attention: cascaded group attention whose keys and values see growing receptive fields.

    The input is split into ``num_heads`` channel groups ``g_i`` of ``d = channels // num_heads`` channels. Head
    ``i`` attends over ``t_i``, where ``t_1 = g_1`` and ``t_i = out_{i-1} + g_i`` (the cascade):

    * ``q, k, v = split(conv1x1(t_i))`` (d -> 3d, no bias, in that channel order);
    * ``k`` and ``v`` each pass through their own depthwise ``k_i x k_i`` conv (no bias, "same" padding), where
      ``k_i = kernel_sizes[i]``; with the default (1, 3, 5, 7) the views go centre -> local -> wider; ``q`` is left
      untouched;
    * ``attn = softmax_keys(q^T k * d^-0.5)`` is (N, N) with N = H * W, and ``out_i = v attn^T`` reshaped to
      (d, H, W).

    The head outputs are concatenated (no output projection).

    Args:
        channels: C; must be divisible by ``num_heads``.
        num_heads: the number of cascaded heads (channel groups).
        kernel_sizes: one odd depthwise kernel size per head, applied to that head's keys and values.

    Input: (B, C, H, W). Output: (B, C, H, W).
    """

    def __init__(self, channels: int, num_heads: int = 4, kernel_sizes: Sequence[int] = (1, 3, 5, 7)) -> None:
        super().__init__()
        if num_heads < 1 or channels < 1 or channels % num_heads:
            raise ValueError(
                f"MVSA: channels ({channels}) must be a positive multiple of num_heads ({num_heads}); "
                "change one of them."
            )
        kernel_sizes = tuple(kernel_sizes)
        if len(kernel_sizes) != num_heads:
            raise ValueError(
                f"MVSA: kernel_sizes needs one entry per head ({num_heads}), got {len(kernel_sizes)}: {kernel_sizes}."
            )
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"MVSA: kernel_sizes must be positive odd integers, got {kernel_sizes}.")
        self.num_heads = num_heads
        self.head_channels = channels // num_heads
        self.scale = self.head_channels**-0.5
        d = self.head_channels
        self.qkv = nn.ModuleList([nn.Conv2d(d, 3 * d, 1, bias=False) for _ in range(num_heads)])
        self.key_convs = nn.ModuleList([nn.Conv2d(d, d, k, padding=k // 2, groups=d, bias=False) for k in kernel_sizes])
        self.value_convs = nn.ModuleList(
            [nn.Conv2d(d, d, k, padding=k // 2, groups=d, bias=False) for k in kernel_sizes]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        groups = x.chunk(self.num_heads, dim=1)
        outputs: list[torch.Tensor] = []
        head_in = groups[0]
        for i, (qkv, key_conv, value_conv) in enumerate(zip(self.qkv, self.key_convs, self.value_convs)):
            if i > 0:
                head_in = outputs[-1] + groups[i]
            q, k, v = qkv(head_in).chunk(3, dim=1)
            k = key_conv(k).flatten(2)
            v = value_conv(v).flatten(2)
            attn = (q.flatten(2).transpose(1, 2) @ k) * self.scale  # (B, N queries, N keys)
            attn = attn.softmax(dim=-1)
            outputs.append((v @ attn.transpose(1, 2)).reshape(b, self.head_channels, h, w))
        return torch.cat(outputs, dim=1)
