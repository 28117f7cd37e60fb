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
"""FSDA, the frequency-spatial domain attention head of CDFINet.

Paper: "Cross-Domain Feature Interaction: A Robust Generalization Network for Cross-Category Medical Image
Classification" (CDFINet; paper text not public, architecture from the authors' Fig. 2d and description; authors'
repository GitHub ``PURSUETHESUN/CDFINet``, no licence). Structurally a modified Wave-ViT wavelet attention (Yao et al.,
"Wave-ViT: Unifying Wavelet and Transformers for Visual Representation Learning", ECCV 2022). Re-implemented from the
authors' published description (figures, README); no code copied.

Query reshape: the authors' code reshapes the (B, C, h, w) query map straight to (B, h * w, C) without a transpose,
so each "token" is a slice of a channel-major buffer rather than one position's channel vector. By default
(``reshape_quirk=False``) this module uses the proper flatten + transpose, so query token ``n`` is the C-vector at
position ``n`` and the attention is a real cross-attention between positions of the frequency feature and of S4;
``reshape_quirk=True`` reproduces the released behaviour bit for bit (for loading the authors' weights or comparing
with their runs). Keys, values and the attention output are always flattened properly.

Shape constraints: S3 is (B, low_channels, 2h, 2w) and S4 is (B, channels, h, w): the S3 grid must be exactly twice
the S4 grid (both even, as the Haar DWT halves S3).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from monai_fusion.networks.ops.haar_dwt import HaarDWT2d, HaarIDWT2d

__all__ = ["FSDA"]

_CAM_REDUCTION = 16


def _conv_bn_gelu(
    in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, bias: bool = False
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.GELU(),
    )


class _ChannelGate(nn.Module):
    """CBAM-style channel gate with the average- and max-pooled vectors summed before a shared 1x1-conv MLP.

    Returns ``sigmoid(MLP(GAP(x) + GMP(x)))`` of shape (B, C, 1, 1); the MLP is C -> hidden -> C with biases and ReLU.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True) + x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.mlp(pooled))


class FSDA(nn.Module):
    """Frequency-spatial domain attention: queries from a wavelet view of S3, keys/values from S4.

    1. ``F = CBG3x3(DWT(CBG1x1(S3)))``: reduce S3 to ``low_channels / reduction`` channels (1x1 conv with bias + BN
       + GELU), Haar DWT (4x the channels at half the resolution), then a 3x3 conv (with bias) + BN + GELU to
       ``channels``: the "frequency-domain" feature.
    2. Local supplement: ``L = CBG3x3_s2(IDWT(F))`` (``channels / 4`` -> ``channels``, no bias), then
       ``L = L * CAM(L)`` with CAM a channel gate (GAP + GMP summed, shared MLP with hidden
       ``max(1, channels // 16)``, sigmoid).
    3. ``Q = conv1x1(F)`` (no bias), to h * w tokens (see the module docstring for ``reshape_quirk``);
       ``K, V = split(conv1x1(S4))`` (``channels -> 2 * channels``, no bias, keys first), flattened to tokens.
    4. ``O`` = multi-head attention (``num_heads`` heads, scale ``head_dim^-0.5``), reshaped to (channels, h, w).
    5. ``x = FC1(O + L)``; ``x = FC2(L) * x``; ``out = Proj(x) + S4``; FC1, FC2, Proj are 1x1 conv (no bias) + BN
       + GELU.

    Every conv is initialised from N(0, 2 / fan_out) with fan_out = k * k * out_channels / groups and a zero bias.

    Args:
        low_channels: channels of S3 (192 in CDFINet); must be divisible by ``reduction``.
        channels: channels of S4 and of the output (256 in CDFINet); must be divisible by 4 and by ``num_heads``.
        num_heads: attention heads.
        reduction: S3 is reduced to ``low_channels // reduction`` channels before the DWT.
        reshape_quirk: reproduce the authors' query reshape without transpose (default False: proper tokens).

    Inputs: ``s3`` (B, low_channels, 2h, 2w), ``s4`` (B, channels, h, w). Output: (B, channels, h, w).
    """

    def __init__(
        self, low_channels: int, channels: int, num_heads: int = 8, reduction: int = 4, reshape_quirk: bool = False
    ) -> None:
        super().__init__()
        if reduction < 1 or low_channels < reduction or low_channels % reduction:
            raise ValueError(
                f"FSDA: low_channels ({low_channels}) must be a positive multiple of reduction ({reduction})."
            )
        if channels < 4 or channels % 4:
            raise ValueError(f"FSDA: channels ({channels}) must be a positive multiple of 4 (for the Haar IDWT).")
        if num_heads < 1 or channels % num_heads:
            raise ValueError(f"FSDA: channels ({channels}) must be divisible by num_heads ({num_heads}).")
        self.num_heads = num_heads
        self.head_channels = channels // num_heads
        self.scale = self.head_channels**-0.5
        self.reshape_quirk = reshape_quirk
        reduced = low_channels // reduction
        self.reduce = _conv_bn_gelu(low_channels, reduced, 1, bias=True)
        self.dwt = HaarDWT2d()
        self.freq_conv = _conv_bn_gelu(4 * reduced, channels, 3, bias=True)
        self.idwt = HaarIDWT2d()
        self.local_conv = _conv_bn_gelu(channels // 4, channels, 3, stride=2)
        self.local_gate = _ChannelGate(channels, max(1, channels // _CAM_REDUCTION))
        self.query = nn.Conv2d(channels, channels, 1, bias=False)
        self.key_value = nn.Conv2d(channels, 2 * channels, 1, bias=False)
        self.fc1 = _conv_bn_gelu(channels, channels)
        self.fc2 = _conv_bn_gelu(channels, channels)
        self.proj = _conv_bn_gelu(channels, channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def query_tokens(self, freq: torch.Tensor) -> torch.Tensor:
        """Project the frequency feature to queries and lay them out as tokens.

        Args:
            freq: F, (B, channels, h, w).

        Returns:
            (B, h * w, channels): ``conv1x1(F)`` flattened and transposed, or with ``reshape_quirk`` the raw
            channel-major buffer reshaped to that shape.
        """
        q = self.query(freq)
        b, c, h, w = q.shape
        if self.reshape_quirk:
            return q.reshape(b, h * w, c)
        return q.flatten(2).transpose(1, 2)

    def _split_heads(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, _ = tokens.shape
        return tokens.reshape(b, n, self.num_heads, self.head_channels).transpose(1, 2)

    def forward(self, s3: torch.Tensor, s4: torch.Tensor) -> torch.Tensor:
        b, c, h, w = s4.shape
        if s3.shape[2] != 2 * h or s3.shape[3] != 2 * w:
            raise ValueError(
                f"FSDA: s3 must have twice the spatial size of s4, got s3 {list(s3.shape[2:])} and s4 {(h, w)}."
            )
        freq = self.freq_conv(self.dwt(self.reduce(s3)))
        local = self.local_conv(self.idwt(freq))
        local = local * self.local_gate(local)

        q = self._split_heads(self.query_tokens(freq))
        k, v = self.key_value(s4).flatten(2).transpose(1, 2).chunk(2, dim=-1)
        k, v = self._split_heads(k), self._split_heads(v)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        out = attn.softmax(dim=-1) @ v  # (B, heads, h * w, head_dim)
        out = out.transpose(1, 2).reshape(b, h * w, c).transpose(1, 2).reshape(b, c, h, w)

        x = self.fc1(out + local)
        x = self.fc2(local) * x
        return self.proj(x) + s4
