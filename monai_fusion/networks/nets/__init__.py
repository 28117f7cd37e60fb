# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Networks. Each class and variant factory is a MONAI component: after ``import monai_fusion`` a bundle config can
name it by its short name (``"_target_": "CDFINet"``) or by its full path."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .cdfinet import CDFINet
from .hifuse import HiFuse, hifuse_base, hifuse_small, hifuse_tiny
from .medmamba import MedMamba, medmamba_base, medmamba_small, medmamba_tiny
from .mfsf2net import MFSF2Net
from .mfsf2net_seg import MFSF2NetSeg

#: Every network variant by name: the list the contract test and the cost scripts iterate over.
NETWORK_VARIANTS: dict[str, Callable[..., nn.Module]] = {
    "cdfinet": CDFINet,
    "medmamba_tiny": medmamba_tiny,
    "medmamba_small": medmamba_small,
    "medmamba_base": medmamba_base,
    "hifuse_tiny": hifuse_tiny,
    "hifuse_small": hifuse_small,
    "hifuse_base": hifuse_base,
    "mfsf2net": MFSF2Net,
    "mfsf2net_seg": MFSF2NetSeg,
}
