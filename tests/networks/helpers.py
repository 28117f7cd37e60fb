# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Helpers shared by the network tests: tiny configurations of every variant, eval-mode batch norm written out, and
non-trivial batch-norm statistics."""

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


# tiny configurations (variant -> (constructor overrides, input shape)) that keep each variant's
# structure (its depths, blocks and heads) but shrink widths and input
_HIFUSE_TINY = {"channels": (8, 16, 32, 64), "num_heads": (1, 2, 2, 4), "hff_reduction": 4}
_MEDMAMBA_TINY = {"channels": (8, 16, 32, 64)}
TINY_CONFIGS: dict[str, tuple[dict, tuple[int, ...]]] = {
    "cdfinet": ({"channels": (16, 32, 48, 64), "depths": (1, 1, 1, 1)}, (2, 3, 64, 64)),
    "medmamba_tiny": (_MEDMAMBA_TINY, (2, 3, 64, 64)),
    "medmamba_small": (_MEDMAMBA_TINY, (2, 3, 64, 64)),
    "medmamba_base": (_MEDMAMBA_TINY, (2, 3, 64, 64)),
    "hifuse_tiny": (_HIFUSE_TINY, (2, 3, 64, 64)),
    "hifuse_small": (_HIFUSE_TINY, (2, 3, 64, 64)),
    "hifuse_base": (_HIFUSE_TINY, (2, 3, 64, 64)),
    # the timm backbones keep their real size; only the input is small
    "mfsf2net": ({}, (2, 3, 64, 64)),
    "mfsf2net_seg": ({}, (2, 3, 64, 64)),
}
OUT_CHANNELS = 3
