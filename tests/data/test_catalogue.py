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
"""The catalogue: well-formed entries, and the download path through MONAI with local ``file://`` archives."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import socket
import tarfile
import zipfile

import pytest

from monai_fusion.data.catalogue import (
    DATASET_CATALOGUE,
    PublicDatasetResource,
    PublicDatasetUnavailableError,
    fetch_public_dataset,
    locate_public_dataset,
)
from monai_fusion.data.folders import KVASIR_CLASSES
from tests.data.standins import write_image


@pytest.mark.parametrize("name", sorted(DATASET_CATALOGUE))
def test_entry_is_complete(name):
    info = DATASET_CATALOGUE[name]
    assert info.name == name and info.homepage.startswith("http")
    assert info.licence and info.citation and info.layout and info.manual_steps and info.required_files
    builder = info.get_builder()
    assert set(info.builder_kwargs) <= set(inspect.signature(builder).parameters)
    for res in info.resources:
        assert res.url.startswith(("https://", "http://")) and res.filename
        if res.hash_val is not None:  # only traceable checksums are recorded
            assert len(res.hash_val) == {"md5": 32, "sha256": 64}[res.hash_type]
            int(res.hash_val, 16)


def _archive(tmp_path, kind: str):
    """A Kvasir v2 stand-in (8 classes x 3 JPEGs) packed as zip or tar.gz, and its md5."""
    src = tmp_path / "src"
    for c, name in enumerate(KVASIR_CLASSES):
        for k in range(3):
            write_image(src / "kvasir-dataset-v2" / name / f"{k}.jpg", seed=10 * c + k)
    if kind == "zip":
        archive = tmp_path / "kvasir-dataset-v2.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(src.rglob("*.jpg")):
                zf.write(path, path.relative_to(src).as_posix())
    else:
        archive = tmp_path / "kvasir-dataset-v2.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(src / "kvasir-dataset-v2", arcname="kvasir-dataset-v2")
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def _local_entry(archive, md5, name="kvasir_v2"):
    resource = PublicDatasetResource(archive.as_uri(), archive.name, hash_val=md5, hash_type="md5")
    return dataclasses.replace(DATASET_CATALOGUE[name], resources=(resource,))


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_fetch_local_file_url_extracts_and_builds(tmp_path, kind):
    archive, md5 = _archive(tmp_path, kind)
    entry = _local_entry(archive, md5)
    root = tmp_path / "root"
    assert locate_public_dataset(entry, root) is None
    folder = fetch_public_dataset(entry, root, progress=False)
    assert folder == root / "kvasir_v2" and (folder / "downloads" / archive.name).is_file()
    assert (folder / archive.name.split(".")[0] / "kvasir-dataset-v2" / "polyps" / "0.jpg").is_file()
    datalist = entry.build(folder, output=tmp_path / "kvasir.json")
    assert datalist["name"] == "Kvasir v2" and datalist["dataset_dir"] == str(folder)
    assert datalist["numTraining"] + datalist["numValidation"] + datalist["numTest"] == 8 * 3
    assert datalist["numValidation"] >= 1 and datalist["numTest"] >= 1
    # second call: found on disk, nothing downloaded (the source may be gone)
    archive.unlink()
    assert fetch_public_dataset(entry, root, progress=False) == folder


def test_fetch_checksum_mismatch(tmp_path):
    archive, _ = _archive(tmp_path, "zip")
    entry = _local_entry(archive, "0" * 32)
    with pytest.raises(PublicDatasetUnavailableError, match="hash check") as err:
        fetch_public_dataset(entry, tmp_path / "root", progress=False)
    assert "delete" in str(err.value) and DATASET_CATALOGUE["kvasir_v2"].homepage in str(err.value)


def test_fetch_offline_says_where_to_get_and_put_the_data(tmp_path):
    with socket.socket() as s:  # a local port with nothing listening: the connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resource = PublicDatasetResource(f"http://127.0.0.1:{port}/kvasir-dataset-v2.zip", "kvasir-dataset-v2.zip")
    entry = dataclasses.replace(DATASET_CATALOGUE["kvasir_v2"], resources=(resource,))
    with pytest.raises(PublicDatasetUnavailableError) as err:
        fetch_public_dataset(entry, tmp_path / "root", progress=False)
    message = str(err.value)
    assert "downloading http://127.0.0.1" in message and "https://datasets.simula.no/kvasir/" in message
    assert str(tmp_path / "root" / "kvasir_v2") in message and "--dataset-dir" in message


def test_manual_only_dataset(tmp_path):
    with pytest.raises(PublicDatasetUnavailableError, match="cannot be downloaded automatically") as err:
        fetch_public_dataset("ham10000", tmp_path)
    assert "https://doi.org/10.7910/DVN/DBW86T" in str(err.value) and "HAM10000_metadata.csv" in str(err.value)
    with pytest.raises(PublicDatasetUnavailableError, match="--download"):
        fetch_public_dataset("kvasir_v2", tmp_path, download=False)
    with pytest.raises(ValueError, match="unknown dataset"):
        fetch_public_dataset("mednist", tmp_path)


def test_wrong_archive_layout(tmp_path):
    archive, md5 = _archive(tmp_path, "zip")
    entry = _local_entry(archive, md5, name="kvasir_seg")  # a classification archive where masks/ is expected
    with pytest.raises(PublicDatasetUnavailableError, match="expected layout"):
        fetch_public_dataset(entry, tmp_path / "root", progress=False)
