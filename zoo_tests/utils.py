# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Workflow helpers with the names and arguments of the MONAI Model Zoo's ``ci/unit_tests/utils.py``
(``check_workflow``, ``export_config_and_run_mgpu_cmd``), written for this repository so that the zoo-style tests in
this folder run here unchanged. In a zoo pull request, leave this file out: the zoo's own ``utils.py`` is used."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from monai.bundle import ConfigParser, ConfigWorkflow


def check_workflow(workflow: ConfigWorkflow, check_properties: bool = False) -> None:
    """``initialize``, optionally ``check_properties`` (raising on any missing property), ``run``, ``finalize``."""
    workflow.initialize()
    if check_properties:
        missing = workflow.check_properties()
        if missing:
            raise ValueError(f"check properties for workflow failed: {missing}")
    workflow.run()
    workflow.finalize()


def export_overrided_config(config_file: str | Sequence[str], override_dict: Mapping, output_path: str) -> None:
    """Merge ``config_file`` (one or several JSON files) with ``override_dict``; write the result to ``output_path``."""
    parser = ConfigParser()
    parser.read_config(config_file)
    parser.update(pairs=dict(override_dict))
    ConfigParser.export_config_file(parser.config, output_path, indent=4)


def export_config_and_run_mgpu_cmd(
    config_file: str | Sequence[str],
    meta_file: str,
    override_dict: Mapping,
    output_path: str,
    logging_file: str | None = None,
    workflow_type: str = "train",
    nnode: int = 1,
    ngpu: int = 2,
    check_config: bool = False,
) -> None:
    """Write the overridden config to ``output_path`` and run it with ``torchrun`` on ``ngpu`` processes per node.

    With ``check_config``, the merged config first goes through ``initialize`` and ``check_properties`` in this
    process. The command is ``python -m torch.distributed.run --standalone ... -m monai.bundle run --config_file
    <output_path> --meta_file <meta_file>``; a non-zero exit status raises ``subprocess.CalledProcessError``.
    """
    export_overrided_config(config_file, override_dict, output_path)
    if check_config:
        workflow = ConfigWorkflow(
            workflow_type=workflow_type, config_file=output_path, meta_file=meta_file, logging_file=logging_file
        )
        workflow.initialize()
        missing = workflow.check_properties()
        if missing:
            raise ValueError(f"check properties for the overridden multi-process config failed: {missing}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nnodes={nnode}"]
    cmd += [f"--nproc_per_node={ngpu}", "-m", "monai.bundle", "run", "--config_file", output_path]
    cmd += ["--meta_file", meta_file]
    if logging_file is not None:
        cmd += ["--logging_file", logging_file]
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (override_dict.get("bundle_root", "."), env.get("PYTHONPATH")) if p)
    subprocess.check_call(cmd, env=env)
