# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Parameter and multiply-accumulate counts of a network, with the selective scan counted analytically.

``torch.utils.flop_counter.FlopCounterMode`` counts convolutions and matrix products (not element-wise ops, nor
normalisation). The selective scan is a loop of element-wise ops that such counters cannot see, so while counting it
is replaced by a no-op and every ``SS2DCore`` adds its analytic figure (``SS2DCore.flops``: Mamba's
``9·B·L·D·N + B·D·L``). Figures are multiply-accumulates (MACs = FLOPs / 2), the convention of the papers and of
fvcore. Used by ``scripts/model_cost.py`` and ``scripts/benchmark.py``.
"""

from __future__ import annotations

from unittest import mock

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from monai_fusion.networks.blocks import ss2d as ss2d_module

__all__ = ["count_macs", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (shared parameters counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _no_scan(u: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return u.clone()


def count_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """Multiply-accumulates of one forward pass of ``model`` on ``x``, in inference mode.

    Args:
        model: the network; it is run once under ``torch.no_grad()`` in its current train/eval mode.
        x: an input batch (its batch size scales the counts).

    Returns:
        ``(macs_without_scan, scan_macs)``: the counter's figure for everything except the selective scan, and the
        analytic figure of the scans (0 for networks without ``SS2DCore``).
    """
    scan_macs = 0

    def _count_scan(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal scan_macs
        batch, _, height, width = inputs[0].shape
        scan_macs += module.flops(batch, height, width)

    hooks = [m.register_forward_hook(_count_scan) for m in model.modules() if isinstance(m, ss2d_module.SS2DCore)]
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), mock.patch.object(ss2d_module, "selective_scan", _no_scan), counter:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return counter.get_total_flops() // 2, scan_macs
