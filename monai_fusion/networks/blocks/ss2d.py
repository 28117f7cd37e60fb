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
"""SS2D: the 2-D four-direction cross selective scan of VMamba, as used by MedMamba and CDFINet.

VMamba: Liu et al., "VMamba: Visual State Space Model", NeurIPS 2024, arXiv:2401.10166 ("v0" SS2D); MedMamba: Yue & Li,
"MedMamba: Vision Mamba for Medical Image Classification", arXiv:2403.03849. Re-implemented from the papers'
descriptions; no code copied.

``SS2DCore`` is the scan alone (CDFINet wraps it in its own wavelet convolutions); ``SS2D`` adds the input
projection, depthwise conv, output norm, SiLU gate and output projection (MedMamba / VMamba v0).

Spatial shape constraints: none; any H and W >= 1 (square or not). The cost grows linearly with H * W.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from monai_fusion.networks.layers.ssm_init import a_log_init, d_init, dt_bias_init, dt_projection_init_
from monai_fusion.networks.ops.selective_scan import SCAN_BACKENDS, selective_scan, selective_scan_flops

__all__ = ["SS2DCore", "SS2D"]

_NUM_DIRECTIONS = 4


class SS2DCore(nn.Module):
    """Four-direction cross selective scan over a 2-D map: cross-scan, selective scan, cross-merge (sum).

    The four sequences of length L = H * W are: k=0 row-major (W fastest), k=1 column-major (H fastest),
    k=2 the reverse of k=0, k=3 the reverse of k=1. Each direction has its own ``x_proj`` (to dt_raw, B, C),
    dt projection, dt bias, ``A_log`` and ``D``. The scan runs in fp32; the outputs are mapped back to raster
    order and summed, without normalisation, projection or gating.

    Args:
        d_inner: D, the number of channels scanned.
        d_state: N, the SSM state size.
        dt_rank: R, the rank of the dt projection; default ``ceil(d_inner / 32)`` (= ``ceil(d_model / 16)`` when
            d_inner = 2 * d_model).
        dt_min: lower end of the log-uniform initial dt.
        dt_max: upper end of the log-uniform initial dt.
        dt_init_floor: lower clamp of the initial dt.
        dt_scale: scales the uniform bound of the dt projection init.
        scan_backend: backend of ``selective_scan``: ``"auto"``, ``"reference"``, ``"torch"`` or ``"cuda"``.

    Input: (B, d_inner, H, W), channels-first. Output: (B, H, W, d_inner), channels-last.
    """

    def __init__(
        self,
        d_inner: int,
        d_state: int = 16,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_scale: float = 1.0,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        if d_inner < 1:
            raise ValueError(f"d_inner must be a positive integer, got {d_inner}.")
        if d_state < 1:
            raise ValueError(f"d_state must be a positive integer, got {d_state}.")
        if dt_rank is None:
            dt_rank = math.ceil(d_inner / 32)
        if dt_rank < 1:
            raise ValueError(f"dt_rank must be a positive integer or None (for ceil(d_inner / 32)), got {dt_rank}.")
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f"scan_backend must be one of {SCAN_BACKENDS}, got {scan_backend!r}.")
        self.d_inner = d_inner
        self.d_state = d_state
        self.dt_rank = dt_rank
        self.scan_backend = scan_backend
        k = _NUM_DIRECTIONS

        x_proj_weight = torch.empty(k, dt_rank + 2 * d_state, d_inner)
        for w in x_proj_weight:  # the default init of nn.Linear(d_inner, R + 2N, bias=False), per direction
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.x_proj_weight = nn.Parameter(x_proj_weight)
        self.dt_projs_weight = nn.Parameter(dt_projection_init_(torch.empty(k, d_inner, dt_rank), dt_rank, dt_scale))
        self.dt_projs_bias = nn.Parameter(
            torch.stack([dt_bias_init(d_inner, dt_min, dt_max, dt_init_floor) for _ in range(k)])
        )
        self.A_logs = nn.Parameter(a_log_init(d_state, k * d_inner))
        self.Ds = nn.Parameter(d_init(k * d_inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != self.d_inner):
            raise ValueError(f"SS2DCore expects (B, {self.d_inner}, H, W) channels-first, got {list(x.shape)}.")
        batch, channels, height, width = x.shape
        length = height * width
        k = self.x_proj_weight.shape[0]  # _NUM_DIRECTIONS (a module global, which TorchScript cannot read)
        # cross-scan: (B, 4, D, L)
        x_hw = x.flatten(2)
        x_wh = x.transpose(2, 3).flatten(2)
        xs = torch.stack([x_hw, x_wh], dim=1)
        xs = torch.cat([xs, xs.flip(-1)], dim=1)

        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)
        dts, bs, cs = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight)

        y = selective_scan(
            xs.float().reshape(batch, k * channels, length),
            dts.float().reshape(batch, k * channels, length),
            -torch.exp(self.A_logs.float()),
            bs.float(),
            cs.float(),
            D=self.Ds.float(),
            delta_bias=self.dt_projs_bias.float().flatten(),
            delta_softplus=True,
            backend=self.scan_backend,
        ).reshape(batch, k, channels, length)

        # cross-merge: undo the reversals, then bring the column-major pair back to raster order
        y_hw = y[:, 0] + y[:, 2].flip(-1)
        y_wh = (y[:, 1] + y[:, 3].flip(-1)).reshape(batch, channels, width, height).transpose(2, 3)
        y = y_hw + y_wh.reshape(batch, channels, length)
        return y.transpose(1, 2).reshape(batch, height, width, channels).to(x.dtype)

    def flops(self, batch: int, height: int, width: int) -> int:
        """Analytic multiply-accumulates of the selective scan itself (invisible to fvcore/thop/flop counters).

        The projections are ordinary einsums that those tools do count, so they are not included here.

        Args:
            batch: batch size. height: H. width: W.
        """
        return selective_scan_flops(batch, height * width, _NUM_DIRECTIONS * self.d_inner, self.d_state, with_D=True)


class SS2D(nn.Module):
    """VMamba "v0" SS2D block as used by MedMamba: in_proj, depthwise conv + SiLU, SS2DCore, LayerNorm, SiLU gate.

    ``x, z = in_proj(x)``; ``y = out_norm(core(SiLU(dwconv(x))))``; ``out = dropout(out_proj(y * SiLU(z)))``,
    with d_inner = ``expand * d_model``.

    Args:
        d_model: c, the input/output channels.
        d_state: N, the SSM state size.
        expand: d_inner = expand * d_model.
        dt_rank: R; default ``ceil(d_model / 16)``.
        d_conv: kernel size of the depthwise conv (odd; padding ``(d_conv - 1) // 2`` keeps H and W).
        conv_bias: bias in the depthwise conv.
        bias: bias in ``in_proj`` and ``out_proj``.
        dropout: dropout probability after ``out_proj``.
        dt_min: lower end of the log-uniform initial dt.
        dt_max: upper end of the log-uniform initial dt.
        dt_init_floor: lower clamp of the initial dt.
        dt_scale: scales the uniform bound of the dt projection init.
        scan_backend: backend of ``selective_scan``: ``"auto"``, ``"reference"``, ``"torch"`` or ``"cuda"``.

    Input and output: (B, H, W, d_model), channels-last. Any H, W >= 1.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 2,
        dt_rank: int | None = None,
        d_conv: int = 3,
        conv_bias: bool = True,
        bias: bool = False,
        dropout: float = 0.0,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_scale: float = 1.0,
        scan_backend: str = "auto",
    ) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model must be a positive integer, got {d_model}.")
        if expand < 1:
            raise ValueError(f"expand must be a positive integer, got {expand}.")
        if d_conv < 1 or d_conv % 2 == 0:
            raise ValueError(f"d_conv must be a positive odd integer (so that H and W are kept), got {d_conv}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        d_inner = expand * d_model
        if dt_rank is None:
            dt_rank = math.ceil(d_model / 16)
        self.d_model = d_model
        self.d_inner = d_inner
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=(d_conv - 1) // 2, groups=d_inner, bias=conv_bias)
        self.act = nn.SiLU()
        self.core = SS2DCore(
            d_inner,
            d_state=d_state,
            dt_rank=dt_rank,
            dt_min=dt_min,
            dt_max=dt_max,
            dt_init_floor=dt_init_floor,
            dt_scale=dt_scale,
            scan_backend=scan_backend,
        )
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = self.act(self.conv2d(x.permute(0, 3, 1, 2)))  # channels-last view, no NCHW copy
        y = self.out_norm(self.core(x))
        y = y * self.act(z)
        return self.dropout(self.out_proj(y))

    def flops(self, batch: int, height: int, width: int) -> int:
        """Analytic multiply-accumulates of the selective scan (see ``SS2DCore.flops``).

        Args:
            batch: batch size. height: H. width: W.
        """
        return self.core.flops(batch, height, width)
