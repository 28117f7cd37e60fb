# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Every network resolves in a MONAI bundle config, by short name and by full dotted path."""

from __future__ import annotations

import inspect

import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle.config_item import ComponentLocator

import monai_fusion
from monai_fusion.networks import nets
from monai_fusion.networks.nets import NETWORK_VARIANTS

TINY = {"channels": (16, 32, 64, 128), "depths": (1, 1, 1, 1)}


def _config(target: str) -> dict:
    return {"imports": ["$import monai_fusion"], "net": {"_target_": target, "out_channels": 3, **TINY}}


@pytest.mark.parametrize("target", ["CDFINet", "monai_fusion.networks.nets.CDFINet", "MedMamba", "medmamba_tiny"])
def test_network_resolves_from_bundle_config(target):
    parser = ConfigParser(_config(target))
    net = parser.get_parsed_content("net")
    expected = getattr(nets, target.rsplit(".", 1)[-1])
    if inspect.isclass(expected):
        assert type(net) is expected
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 64, 64)).shape == (1, 3)


def test_every_public_network_name_is_unique_for_the_locator():
    # MONAI resolves a short `_target_` only when exactly one imported `monai*` module defines it
    assert monai_fusion.__name__.startswith(ComponentLocator.MOD_START)
    locator = ComponentLocator()
    for name in NETWORK_VARIANTS.values():
        resolved = locator.get_component_module_name(name.__name__)
        assert isinstance(resolved, str), f"{name.__name__} is ambiguous or missing: {resolved}"
        assert resolved.startswith("monai_fusion.networks.nets.")


def test_public_names_do_not_collide_with_monai():
    """A public class or function of ours that shares a name with one of MONAI's would make both unusable by
    short name in configs, so every name in an ``__all__`` of ours must resolve to exactly one module."""
    import sys

    locator = ComponentLocator()
    checked = 0
    for modname, module in list(sys.modules.items()):
        if not modname.startswith("monai_fusion") or module is None:
            continue
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == modname:
                resolved = locator.get_component_module_name(name)
                assert resolved == modname, f"{modname}.{name} collides: the locator finds {resolved}"
                checked += 1
    assert checked > 10
