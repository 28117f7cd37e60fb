# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Every network variant compiles with ``torch.jit.script`` (what ``python -m monai.bundle ckpt_export`` does without
``--use_trace``, as the MONAI Model Zoo's CI runs it) and the scripted module gives the eager outputs within 1e-5.

Tiny configurations (``TINY_CONFIGS``, shared with the contract test); the weights are perturbed away from their
initialisation (zero-initialised scales, identity batch norms) so that every path of the network moves the output.
Under ``torch.jit.script`` the selective scan runs its plain-tensor blocked path (see ``selective_scan``), so the
scripted CDFINet and MedMamba also check that path against the eager backend.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from monai.bundle import ckpt_export

from monai_fusion.networks.nets import NETWORK_VARIANTS, MFSF2Net
from tests.networks.helpers import OUT_CHANNELS, TINY_CONFIGS

ATOL = RTOL = 1e-5


def _perturbed(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` in eval mode with every parameter moved off its initial value and random batch-norm statistics."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    kwargs, shape = TINY_CONFIGS[name]
    torch.manual_seed(0)
    net = NETWORK_VARIANTS[name](spatial_dims=2, in_channels=shape[1], out_channels=OUT_CHANNELS, **kwargs)
    return _perturbed(net), torch.randn(shape)


def _script(net: torch.nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice
        return torch.jit.script(net)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_scripted_variant_matches_eager(name: str) -> None:
    net, x = _build(name)
    scripted = _script(net)
    x2 = torch.randn(1, x.shape[1], 96, 64)  # a script, unlike a trace, is not specialised to one input or shape
    with torch.no_grad():
        for inp in (x, x2):
            expected = net(inp)
            actual = scripted(inp)
            assert actual.shape == expected.shape
            torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_scripted_multimodal_mfsf2net_matches_eager() -> None:
    """The RCM form: the optional second input (B, N, C, H, W) goes through the Conv3d collapse in the script too."""
    torch.manual_seed(0)
    net = _perturbed(MFSF2Net(spatial_dims=2, in_channels=3, out_channels=OUT_CHANNELS, rcm_slices=2))
    scripted = _script(net)
    x, rcm = torch.randn(2, 3, 64, 64), torch.randn(2, 2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x, rcm), net(x, rcm), rtol=RTOL, atol=ATOL)
        torch.testing.assert_close(scripted(x), net(x), rtol=RTOL, atol=ATOL)
    with pytest.raises(torch.jit.Error, match="rcm must have layout"):  # the input check survives scripting
        scripted(x, rcm[:, :1])


def test_scripted_save_load_round_trip(tmp_path: Path) -> None:
    net, x = _build("cdfinet")
    path = tmp_path / "cdfinet.ts"
    torch.jit.save(_script(net), str(path))
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["cdfinet", "medmamba_tiny"])
def test_ckpt_export_in_script_mode(name: str, tmp_path: Path) -> None:
    """``monai.bundle.ckpt_export`` without ``use_trace``: MONAI scripts the network built from the bundle config."""
    kwargs, shape = TINY_CONFIGS[name]
    factory = NETWORK_VARIANTS[name]
    network_def = {
        "_target_": f"{factory.__module__}.{factory.__qualname__}",
        "spatial_dims": 2,
        "in_channels": shape[1],
        "out_channels": OUT_CHANNELS,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
    }
    config, meta = tmp_path / "inference.json", tmp_path / "metadata.json"
    config.write_text(json.dumps({"imports": ["$import monai_fusion"], "network_def": network_def}))
    meta.write_text(json.dumps({"version": "0.0.1", "name": name}))
    net, x = _build(name)
    ckpt, exported = tmp_path / "model.pt", tmp_path / "model.ts"
    torch.save(net.state_dict(), ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ckpt_export(
            net_id="network_def",
            filepath=str(exported),
            ckpt_file=str(ckpt),
            meta_file=str(meta),
            config_file=str(config),
            use_trace=False,
        )
    extra = {"metadata.json": ""}
    loaded = torch.jit.load(str(exported), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["name"] == name
    assert isinstance(loaded, torch.jit.ScriptModule) and "forward" in loaded.code
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=RTOL, atol=ATOL)
