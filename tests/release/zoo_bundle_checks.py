# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The MONAI Model Zoo's bundle checks and an inference run, on bundles unpacked from their zips.

Run as a script by ``tests/release/test_wheel_outside_repo.py``, with the Python of a fresh virtual environment
whose only monai-fusion install is the built wheel, from a temporary working directory: it imports nothing from the
checkout. It calls the same ``monai.bundle`` functions as the zoo's ``ci/verify_bundle.py`` (``verify_metadata``,
``verify_net_in_out``, ``ckpt_export`` without ``use_trace``, i.e. ``torch.jit.script``), after writing a checkpoint
of the bundle's own ``network_def`` with random weights to ``models/model.pt`` (what the zoo would download from
``large_files.yml``), then runs ``configs/inference.json`` on real images.

One process for every bundle (importing torch and MONAI once); each step's outcome goes to a JSON file::

    {"environment": {...}, "bundles": {"<name>": {"<step>": {"status": "ok" | "fail" | "skip", "detail": str,
    "seconds": float}}}}
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

STEPS = ("metadata", "net_in_out", "weights", "torchscript", "inference")


def _step(record: dict, name: str, func: Callable[[], str]) -> bool:
    start = time.perf_counter()
    try:
        detail = func()
        record[name] = {"status": "ok", "detail": detail or ""}
    except Exception as exc:  # every failure is reported, the remaining bundles still run
        tb = traceback.format_exc()
        record[name] = {"status": "fail", "detail": f"{type(exc).__name__}: {exc}\n{tb[-3000:]}"}
    record[name]["seconds"] = round(time.perf_counter() - start, 2)
    return record[name]["status"] == "ok"


def check_bundle(root: Path, schema: Path | None, inputs: Path) -> dict:
    """Run every step on the unpacked bundle ``root``; inference reads the images in ``inputs``."""
    import torch
    from monai.bundle import ConfigParser, ckpt_export, run, verify_metadata, verify_net_in_out

    meta_file = str(root / "configs" / "metadata.json")
    config_file = str(root / "configs" / "inference.json")
    logging_file = str(root / "configs" / "logging.conf")
    models = root / "models"
    record: dict = {}
    state: dict = {}

    def metadata() -> str:
        # the zoo's ci/prepare_schema.py places the schema at eval/schema.json; verify_metadata only downloads it
        # when that file is missing
        target = root / "eval" / "schema.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(schema, target)
        verify_metadata(meta_file=meta_file, filepath=str(target))
        return schema.name

    def net_in_out() -> str:
        verify_net_in_out(net_id="network_def", meta_file=meta_file, config_file=config_file, bundle_root=str(root))
        return ""

    def weights() -> str:
        parser = ConfigParser()
        parser.read_config(f=config_file)
        parser.read_meta(f=meta_file)
        parser["bundle_root"] = str(root)
        net = parser.get_parsed_content("network_def")
        models.mkdir(exist_ok=True)
        torch.save(net.state_dict(), models / "model.pt")
        state["net"], state["meta"] = net, parser["_meta_"]
        return f"{sum(p.numel() for p in net.parameters())} parameters"

    def torchscript() -> str:
        ts_file = models / "model.ts"
        ckpt_export(
            net_id="network_def",
            filepath=str(ts_file),
            ckpt_file=str(models / "model.pt"),
            meta_file=meta_file,
            config_file=config_file,
            bundle_root=str(root),
        )
        scripted = torch.jit.load(str(ts_file), map_location="cpu")
        net = state["net"]  # the network whose random weights are in models/model.pt
        image = state["meta"]["network_data_format"]["inputs"]["image"]
        torch.manual_seed(0)
        x = torch.rand(1, image["num_channels"], *image["spatial_shape"])
        net.eval()
        scripted.eval()
        with torch.no_grad():
            expected, got = net(x), scripted(x)
        diff = float((expected - got).abs().max())
        if diff > 1e-4:
            raise AssertionError(f"scripted and eager outputs differ by {diff:.3g} (> 1e-4)")
        return f"max abs diff {diff:.3g}"

    def inference() -> str:
        state.clear()
        run(
            config_file=config_file,
            meta_file=meta_file,
            logging_file=logging_file,
            dataset_dir=str(inputs),
            num_workers=0,
        )
        return str(root / "eval" / "inference")

    if schema is None:
        record["metadata"] = {"status": "skip", "detail": "no offline schema given", "seconds": 0.0}
    else:
        _step(record, "metadata", metadata)
    _step(record, "net_in_out", net_in_out)
    if _step(record, "weights", weights):
        _step(record, "torchscript", torchscript)
        if inputs.is_dir():
            _step(record, "inference", inference)
        else:
            record["inference"] = {"status": "skip", "detail": f"no images at {inputs}", "seconds": 0.0}
    else:
        for name in ("torchscript", "inference"):
            record[name] = {"status": "skip", "detail": "no models/model.pt (weights step failed)", "seconds": 0.0}
    gc.collect()
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, required=True, help="folder holding the unpacked bundles")
    parser.add_argument("--names", nargs="+", required=True, help="bundle folder names")
    parser.add_argument("--inputs", type=Path, required=True, help="folder holding one image folder per bundle")
    parser.add_argument("--schema", type=Path, default=None, help="offline meta_schema_20240725.json")
    parser.add_argument("--output", type=Path, required=True, help="results JSON")
    args = parser.parse_args(argv)

    import monai
    import torch

    import monai_fusion

    results: dict = {
        "environment": {
            "python": sys.executable,
            "sys_path": sys.path,
            "monai_fusion_file": monai_fusion.__file__,
            "monai_fusion_version": monai_fusion.__version__,
            "monai_version": monai.__version__,
            "torch_version": torch.__version__,
        },
        "bundles": {},
    }
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for name in args.names:
        results["bundles"][name] = check_bundle(args.bundles / name, args.schema, args.inputs / name)
        args.output.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
