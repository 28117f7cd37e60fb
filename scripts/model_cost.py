#!/usr/bin/env python
# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Parameters and FLOPs of every network variant, printed beside the figures in the specifications.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; element-wise
ops are not counted) and reported as GMACs (FLOPs / 2), the convention of the papers and of fvcore. The selective scan
is invisible to such counters, so it is replaced by a no-op during counting and added analytically
(``selective_scan_flops``: Mamba's 9·B·L·D·N + B·D·L per scan).

Usage::

    python scripts/model_cost.py                 # every variant at 224x224
    python scripts/model_cost.py --size 128 --variants cdfinet medmamba_tiny
"""

from __future__ import annotations

import argparse

import torch

from monai_fusion.networks.cost import count_macs, count_parameters
from monai_fusion.networks.nets import NETWORK_VARIANTS

# row -> (variant, constructor kwargs, spec params, spec GMACs excluding the scan, spec scan GMACs, source)
# Spec GMACs of HiFuse were measured on the released code, whose dead modules add nothing to the compute.
_DW = "HiFuse code, depthwise IRMLP"
SPEC: dict[str, tuple[str, dict, int | None, float | None, float | None, str]] = {
    "cdfinet": ("cdfinet", {"out_channels": 8}, 7_531_306, 1.65, 0.17, "CDFINet authors' model, fvcore"),
    "medmamba_tiny": ("medmamba_tiny", {"out_channels": 6}, 14_457_222, 2.26, 0.29, "MedMamba paper"),
    "medmamba_small": ("medmamba_small", {"out_channels": 6}, 18_625_158, 3.06, 0.36, "MedMamba paper"),
    "medmamba_base": ("medmamba_base", {"out_channels": 6}, 39_864_838, 6.72, 0.57, "MedMamba paper"),
    "hifuse_tiny": ("hifuse_tiny", {"out_channels": 7}, 118_086_497, 17.55, 0.0, "HiFuse code, live modules"),
    "hifuse_small": ("hifuse_small", {"out_channels": 7}, 121_664_273, 18.28, 0.0, "HiFuse code, live modules"),
    "hifuse_base": ("hifuse_base", {"out_channels": 7}, 132_397_601, 20.46, 0.0, "HiFuse code, live modules"),
    "hifuse_tiny_dw": ("hifuse_tiny", {"out_channels": 7, "irmlp_depthwise": True}, 54_673_217, 8.20, 0.0, _DW),
    "hifuse_small_dw": ("hifuse_small", {"out_channels": 7, "irmlp_depthwise": True}, 58_250_993, 8.93, 0.0, _DW),
    "hifuse_base_dw": ("hifuse_base", {"out_channels": 7, "irmlp_depthwise": True}, 68_984_321, 11.11, 0.0, _DW),
    "mfsf2net": ("mfsf2net", {"out_channels": 7}, 59_729_419, 11.5, 0.0, "MFSF2-Net authors' code, fvcore"),
    "mfsf2net_seg": ("mfsf2net_seg", {"out_channels": 1}, None, None, None, "no published figure"),
}


def measure(name: str, size: int) -> dict:
    """Parameters, GMACs without the scan and analytic scan GMACs of one row at batch 1 and ``size`` x ``size``."""
    variant, kwargs = SPEC[name][:2] if name in SPEC else (name, {})
    model = NETWORK_VARIANTS[variant](**kwargs).eval()
    macs, scan_macs = count_macs(model, torch.randn(1, 3, size, size))
    return {"params": count_parameters(model), "gmacs": macs / 1e9, "scan_gmacs": scan_macs / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224, help="input height and width (divisible by 32)")
    rows = list(SPEC) + [n for n in NETWORK_VARIANTS if n not in SPEC]
    parser.add_argument("--variants", nargs="*", default=rows, choices=rows, help="rows to measure (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    header = (
        f"{'variant':<16} {'params':>12} {'spec params':>12} {'GMACs':>7} {'spec':>6} "
        f"{'scan GMACs':>10} {'spec':>6} {'total':>7} {'spec':>6}  source"
    )
    print(f"input 1x3x{args.size}x{args.size}, torch {torch.__version__}")
    print(header)
    print("-" * len(header))
    for name in args.variants:
        r = measure(name, args.size)
        spec = SPEC.get(name)
        if spec is not None and spec[2] is not None and args.size == 224:
            _, _, sp, sg, ss, src = spec
            print(
                f"{name:<16} {r['params']:>12,} {sp:>12,} {r['gmacs']:>7.2f} {sg:>6.2f} {r['scan_gmacs']:>10.2f} "
                f"{ss:>6.2f} {r['gmacs'] + r['scan_gmacs']:>7.2f} {sg + ss:>6.2f}  {src}"
            )
        else:
            print(
                f"{name:<16} {r['params']:>12,} {'-':>12} {r['gmacs']:>7.2f} {'-':>6} {r['scan_gmacs']:>10.2f} "
                f"{'-':>6} {r['gmacs'] + r['scan_gmacs']:>7.2f} {'-':>6}"
            )
    print(
        "\nNotes: fvcore (the spec's tool) also counts normalisation and some element-wise ops, so its GMACs run a "
        "little higher than FlopCounterMode's. MedMamba's published scan figure uses VMamba's older "
        "flops_selective_scan_ref convention (a), which counts fewer operations per step than Mamba's 9·B·L·D·N used "
        "here. HiFuse's and MFSF2-Net's spec GMACs are fvcore totals."
    )


if __name__ == "__main__":
    main()
