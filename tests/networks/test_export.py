# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Export of every network variant: ONNX through MONAI's ``convert_to_onnx`` checked with onnxruntime (max abs diff
<= 1e-4), and TorchScript through ``monai.bundle.ckpt_export`` reloaded with ``torch.jit.load``.

Sizes (measured, see docs/sharing.md "Export"): CDFINet, MedMamba-T (bundle medmamba) and both MFSF2-Nets are
exported at full size (real widths and depths). The other MedMamba and all HiFuse variants keep their real depths
(what tells tiny/small/base apart) with narrow widths: HiFuse has 118-132 M parameters (470-530 MB per exported
file) and its full-size export alone took longer than this file's CI budget; it was checked once at full size
(hifuse_small, ONNX max abs diff 6.6e-07) and the bundle's TorchScript export is checked at full size by
``scripts/verify_bundles.py`` without ``--fast``.

ONNX uses the TorchScript-based exporter (``dynamo=False``): it traces, so the selective scan runs its plain-tensor
blocked path. MFSF2-Net is exported at 448 px and MFSF2-Net-Seg at 224 px because that exporter only handles
``adaptive_avg_pool2d`` when the output size divides the input (PMSF pools every stage to 14 x 14, MFFE to 7 x 7).
The dynamo exporter (torch's default, used by ``python -m monai.bundle onnx_export`` unless
``--converter_kwargs "{'dynamo': False}"``) also works since the scan takes its blocked path under
``torch.compiler.is_exporting()``, but is 10-20x slower; it is checked on the scan block.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
import torch
from monai.bundle import ckpt_export
from monai.networks.utils import convert_to_onnx

from monai_fusion.networks.blocks.ss2d import SS2DCore
from monai_fusion.networks.nets import NETWORK_VARIANTS


def _require(package: str):
    """Import an ``export`` extra; skip locally, fail in CI (``MONAI_FUSION_REQUIRE_DATA=1`` installs ``.[dev]``)."""
    if os.environ.get("MONAI_FUSION_REQUIRE_DATA", "0") == "1":
        return __import__(package)
    return pytest.importorskip(package)


_NARROW = {"channels": (16, 32, 64, 128)}
#: variant -> (constructor overrides, input size); {} = full size
EXPORT_CASES: dict[str, tuple[dict, int]] = {
    "cdfinet": ({}, 64),  # bundle cdfinet
    "medmamba_tiny": ({}, 64),  # bundle medmamba
    "medmamba_small": (_NARROW, 64),
    "medmamba_base": (_NARROW, 64),
    "hifuse_tiny": ({**_NARROW, "num_heads": (1, 2, 2, 4)}, 64),
    "hifuse_small": ({**_NARROW, "num_heads": (1, 2, 2, 4)}, 64),  # bundle hifuse: see the module docstring
    "hifuse_base": ({**_NARROW, "num_heads": (1, 2, 2, 4)}, 64),
    "mfsf2net": ({}, 448),  # bundle mfsf2net (timm backbones, always real size); PMSF pools to 14 x 14
    "mfsf2net_seg": ({}, 224),  # bundle mfsf2net_segmentation
}
OUT_CHANNELS = 3
ONNX_MAX_ABS_DIFF = 1e-4


def test_every_variant_has_an_export_case() -> None:
    assert set(EXPORT_CASES) == set(NETWORK_VARIANTS)


def _build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    kwargs, size = EXPORT_CASES[name]
    torch.manual_seed(0)
    net = NETWORK_VARIANTS[name](spatial_dims=2, in_channels=3, out_channels=OUT_CHANNELS, **kwargs).eval()
    return net, torch.randn(1, 3, size, size)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPORT_CASES))
def test_onnx_export_matches_pytorch(name: str, tmp_path: Path) -> None:
    _require("onnx")
    ort = _require("onnxruntime")
    net, x = _build(name)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings and the TorchScript-exporter deprecation notice
        convert_to_onnx(
            net, [x], input_names=["image"], output_names=["pred"], filename=str(path), use_trace=True, dynamo=False
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch.manual_seed(1)
    x2 = torch.randn_like(x)  # not the tracing input: the graph must not have baked it in
    (actual,) = session.run(None, {"image": x2.numpy()})
    with torch.no_grad():
        expected = net(x2)
    assert actual.shape == tuple(expected.shape)
    diff = float((torch.from_numpy(actual) - expected).abs().max())
    print(f"ONNX {name}: max |onnxruntime - torch| = {diff:.2e}")
    assert diff <= ONNX_MAX_ABS_DIFF, f"{name}: max abs diff {diff:.2e} > {ONNX_MAX_ABS_DIFF}"


def _target(name: str) -> str:
    factory = NETWORK_VARIANTS[name]
    return f"{factory.__module__}.{factory.__qualname__}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPORT_CASES))
def test_ckpt_export_torchscript_matches_pytorch(name: str, tmp_path: Path) -> None:
    kwargs, size = EXPORT_CASES[name]
    network_def = {"_target_": _target(name), "spatial_dims": 2, "in_channels": 3, "out_channels": OUT_CHANNELS}
    network_def.update({k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()})
    config, meta = tmp_path / "inference.json", tmp_path / "metadata.json"
    config.write_text(json.dumps({"imports": ["$import monai_fusion"], "network_def": network_def}))
    meta.write_text(json.dumps({"version": "0.0.1", "name": name}))
    net, x = _build(name)
    ckpt, exported = tmp_path / "model.pt", tmp_path / "model.ts"
    torch.save(net.state_dict(), ckpt)  # fresh weights: checks the export, not a training result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ckpt_export(
            net_id="network_def",
            filepath=str(exported),
            ckpt_file=str(ckpt),
            meta_file=str(meta),
            config_file=str(config),
            use_trace=True,
            input_shape=list(x.shape),
        )
        extra = {"metadata.json": ""}
        scripted = torch.jit.load(str(exported), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["name"] == name
    torch.manual_seed(1)
    x2 = torch.randn_like(x)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x2), net(x2), rtol=1e-4, atol=1e-5)


def test_scan_block_exports_with_torch_export() -> None:
    """The dynamo/torch.export path (torch.onnx's default): the scan takes its plain-tensor path while exporting."""
    torch.manual_seed(0)
    core = SS2DCore(8, d_state=4, dt_rank=2, scan_backend="auto").eval()
    x = torch.randn(1, 8, 6, 5)
    program = torch.export.export(core, (x,), strict=False)
    x2 = torch.randn_like(x)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x2), core(x2), rtol=1e-5, atol=1e-6)
