# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Data errors: one exception family, a readable exit at the bundle boundary, download failures that say what to do.

The subprocess tests run ``python -m monai.bundle run`` from a temporary folder and check that the last lines on
stderr are the actionable message, not a traceback or MONAI's "Failed to evaluate ConfigExpression".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from monai_fusion.data import (
    BUNDLE_DATA_HINT,
    DataErrorExit,
    DatalistValidationError,
    DatasetError,
    DatasetNotFoundError,
    InvalidDatasetError,
    PublicDatasetInfo,
    PublicDatasetResource,
    PublicDatasetUnavailableError,
    build_kvasir_datalist,
    exit_on_data_error,
    fetch_public_dataset,
)
from tests.data.standins import write_image
from tests.utils import REPO_ROOT

#: the end of stderr that must hold the message: no traceback or MONAI wrapper in it
TAIL = 6


def test_data_errors_are_one_family_and_keep_their_builtin_types(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "nope")) as err:
        build_kvasir_datalist(tmp_path / "nope")
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, DatasetError)
    assert issubclass(DatalistValidationError, InvalidDatasetError) and issubclass(InvalidDatasetError, ValueError)
    assert issubclass(PublicDatasetUnavailableError, DatasetError)
    assert issubclass(PublicDatasetUnavailableError, RuntimeError)


def test_exit_on_data_error_converts_data_errors_only() -> None:
    def fails(kind: type[Exception]) -> None:
        raise kind("the folder /data/x does not exist; pass --dataset_dir")

    wrapped = exit_on_data_error(fails)
    with pytest.raises(DataErrorExit) as exit_info:
        wrapped(DatasetNotFoundError)
    assert isinstance(exit_info.value, SystemExit) and not isinstance(exit_info.value, Exception)
    code = exit_info.value.code
    assert isinstance(code, str)  # Python prints a string code to stderr and exits with status 1
    assert "the folder /data/x does not exist; pass --dataset_dir" in code and code.rstrip().endswith(BUNDLE_DATA_HINT)
    error = exit_info.value.error
    assert isinstance(error, DatasetNotFoundError) and exit_info.value.__cause__ is error
    with pytest.raises(KeyError):  # a bug is not a data error: it keeps its type and traceback
        wrapped(KeyError)
    assert exit_on_data_error(lambda a, b=1: a + b)(2, b=3) == 5 and wrapped.__name__ == "fails"
    with pytest.raises(DataErrorExit) as exit_info, exit_on_data_error(hint=None):
        fails(InvalidDatasetError)
    assert BUNDLE_DATA_HINT not in exit_info.value.code


def test_monai_config_evaluation_lets_the_exit_through() -> None:
    """MONAI wraps an Exception raised in a "$..." expression in RuntimeError; the SystemExit passes unchanged."""

    def build(folder: str) -> dict:
        raise DatasetNotFoundError(f"{folder} does not exist")

    config = {"plain": "$build('/x')", "guarded": "$exit_on_data_error(build)('/x')"}
    parser = ConfigParser(config, globals={"build": build, "exit_on_data_error": exit_on_data_error})
    with pytest.raises(RuntimeError, match="Failed to evaluate"):
        parser.get_parsed_content("plain")
    with pytest.raises(DataErrorExit, match="/x does not exist"):
        parser.get_parsed_content("guarded")


def test_download_failure_names_the_url_the_likely_cause_and_the_fix(tmp_path: Path) -> None:
    url = (tmp_path / "offline" / "data.zip").as_uri()  # fails like an unreachable server, without a network
    info = PublicDatasetInfo(
        name="toy",
        title="Toy set",
        homepage="https://example.org/toy",
        licence="CC0",
        citation="nobody",
        layout="toy/*.png",
        builder="monai_fusion.data.folders.build_imagefolder_datalist",
        required_files=("**/*.png",),
        resources=(PublicDatasetResource(url, "data.zip"),),
        manual_steps="download data.zip from the homepage and unzip it.",
    )
    with pytest.raises(PublicDatasetUnavailableError) as err:
        fetch_public_dataset(info, root=tmp_path / "root", progress=False)
    message = str(err.value)
    assert f"downloading {url} failed" in message and "no internet access" in message
    assert "By hand: download data.zip from the homepage" in message
    assert f"Put it in: {tmp_path / 'root' / 'toy'}" in message
    assert "--dataset-dir DIR" in message


def _bundle_run(tmp_path: Path, config_file: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", str(config_file), *overrides]
    env = dict(os.environ, MONAI_FUSION_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)


def _assert_ends_with_the_fix(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode == 1, done.stderr[-3000:]
    tail = "\n".join(done.stderr.rstrip().splitlines()[-TAIL:])
    for text in expected:
        assert text in tail, f"{text!r} is not in the last {TAIL} lines of stderr:\n{done.stderr[-3000:]}"
    assert "Traceback" not in tail and "Failed to evaluate" not in tail, tail


def test_a_bundle_config_stops_with_the_message_last(tmp_path: Path) -> None:
    """A minimal bundle config run by MONAI's real command line (fire, ConfigWorkflow): the guarded data call fails."""
    config = {
        "imports": ["$import monai_fusion.data as mf_data"],
        "dataset_dir": "/nonexistent/kvasir",
        "datalist": "$mf_data.exit_on_data_error(mf_data.build_kvasir_datalist)(@dataset_dir)",
        "training": ["$print(len(@datalist['training']))"],
    }
    config_file = tmp_path / "train.json"
    config_file.write_text(json.dumps(config))
    done = _bundle_run(tmp_path, config_file, "--dataset_dir", str(tmp_path / "missing"))
    missing = f"Kvasir v2 folder not found: {tmp_path / 'missing'}"
    _assert_ends_with_the_fix(done, missing, "--dataset_dir DIR", "--datalist FILE.json")


@pytest.mark.bundle
@pytest.mark.parametrize("case", ["missing_dataset_dir", "corrupt_image"])
def test_classification_bundle_stops_on_bad_data_with_the_message_last(tmp_path: Path, case: str) -> None:
    """The cdfinet bundle, as a user runs it from another folder: a missing --dataset_dir, and a --datalist with a
    corrupt image. Needs the bundle's datalist call to go through ``exit_on_data_error``."""
    config_file = REPO_ROOT / "bundles" / "cdfinet" / "configs" / "train.json"
    if case == "missing_dataset_dir":
        done = _bundle_run(tmp_path, config_file, "--dataset_dir", str(tmp_path / "nonexistent"), "--download", "False")
        _assert_ends_with_the_fix(done, str(tmp_path / "nonexistent"), "--dataset_dir")
        return
    corrupt = tmp_path / "images" / "broken.jpg"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    write_image(tmp_path / "images" / "good.png", size=(40, 40))
    classes = json.loads(config_file.read_text())["class_names"]
    datalist = tmp_path / "datalist.json"
    training, validation = [{"image": "images/broken.jpg", "label": 0}], [{"image": "images/good.png", "label": 1}]
    datalist.write_text(json.dumps({"class_names": classes, "training": training, "validation": validation}))
    done = _bundle_run(tmp_path, config_file, "--datalist", str(datalist))
    _assert_ends_with_the_fix(done, f"{corrupt}: cannot be decoded", "Fix: the file is corrupt", "--datalist FILE.json")
