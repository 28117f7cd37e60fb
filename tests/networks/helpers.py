# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Helpers shared by the network tests: eval-mode batch norm written out, and non-trivial batch-norm statistics."""

from __future__ import annotations

import torch
from torch import nn


def bn_eval(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Eval-mode ``BatchNorm2d`` written out: ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``."""
    shape = (1, -1, 1, 1)
    scale = bn.weight.view(shape) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    return (x - bn.running_mean.view(shape)) * scale + bn.bias.view(shape)


def randomize_bn(module: nn.Module) -> None:
    """Give every ``BatchNorm2d`` in ``module`` random running statistics and affine parameters, so that a test of the
    eval-mode output would notice a missing, doubled or misplaced normalisation (fresh ones are the identity)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)
