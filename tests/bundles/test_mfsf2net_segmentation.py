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
"""The ``bundles/mfsf2net_segmentation`` bundle end to end, on 8 real Kvasir-SEG pairs from ../shared/data.

Train (2 epochs, 64 x 64, ``run_id="training"``, data from ``dataset_dir``) -> evaluate (train.json + evaluate.json,
``run_id="evaluating"``, data from a ``datalist`` JSON with the same split) -> infer (inference.json on a folder of
JPEG, PNG, DICOM and NIfTI files) through ``ConfigWorkflow``, plus the offline metadata check, ``verify_net_in_out``
and a traced ``ckpt_export`` compared with PyTorch. The model-zoo CI pattern (../specs/monai_bundles.md §7.3).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import nibabel
import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser, ConfigWorkflow, ckpt_export, verify_metadata, verify_net_in_out
from monai.utils import set_determinism
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from monai_fusion.data import build_kvasir_seg_datalist, save_datalist_json
from monai_fusion.networks.nets import MFSF2NetSeg
from tests.utils import REPO_ROOT, require_data

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.data,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

BUNDLE = REPO_ROOT / "bundles" / "mfsf2net_segmentation"
CONFIGS = BUNDLE / "configs"
SCHEMA = REPO_ROOT.parent / "shared" / "monai" / "meta_schema_20240725.json"
SIZE = 64
FRACTIONS = [0.5, 0.25, 0.25]  # 8 pairs -> 4 training, 2 validation, 2 test


def _workflow(config_file: list[Path], workflow_type: str, run_id: str, **override: object) -> ConfigWorkflow:
    return ConfigWorkflow(
        config_file=[str(f) for f in config_file],
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type=workflow_type,
        run_id=run_id,
        **override,
    )


def _run(workflow: ConfigWorkflow, check_properties: bool = True) -> None:
    workflow.initialize()
    if check_properties:
        assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Train the bundle for 2 epochs on 8 real Kvasir-SEG pairs; return the folders and common overrides."""
    kvasir = require_data("kvasir_seg")
    root = tmp_path_factory.mktemp("mfsf2net_seg")
    data = root / "kvasir8"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    for name in sorted(os.listdir(kvasir / "images"))[:8]:
        for sub in ("images", "masks"):
            os.symlink(kvasir / sub / name, data / sub / name)
    common = {
        "bundle_root": str(BUNDLE),
        "output_dir": str(root / "eval"),
        "ckpt_dir": str(root / "models"),
        "split_fractions": FRACTIONS,
        "spatial_size": [SIZE, SIZE],
        "num_workers": 0,
    }
    train = _workflow(
        [CONFIGS / "train.json"],
        "train",
        "training",
        dataset_dir=str(data),
        max_epochs=2,
        batch_size=2,
        val_batch_size=2,
        warmup_epochs=1,
        **common,
    )
    _run(train)
    yield {"root": root, "data": data, "common": common}
    set_determinism(seed=None)
    shutil.rmtree(root, ignore_errors=True)  # about 1 GB of checkpoints


def test_train_writes_checkpoints_and_plots(trained: dict) -> None:
    models, evaluation = trained["root"] / "models", trained["root"] / "eval"
    net = MFSF2NetSeg()
    net.load_state_dict(torch.load(models / "model.pt", weights_only=True))  # the best model is a plain state dict
    latest = sorted(models.glob("checkpoint_epoch=*.pt"))
    assert [p.name for p in latest] == ["checkpoint_epoch=2.pt"]
    state = torch.load(latest[0], weights_only=True)
    assert set(state) == {"model", "optimizer", "lr_scheduler", "trainer", "training_curves", "best_checkpoint"}
    assert dict(state["trainer"]) == {"epoch_length": 2, "iteration": 4, "max_epochs": 2}  # 4 training images, batch 2
    assert state["lr_scheduler"]["last_epoch"] == 4 and state["optimizer"]["state"]
    assert sorted(state["training_curves"]["loss_history"]) == [1, 2]
    assert sorted(state["training_curves"]["metric_history"]) == [
        "val_empty_predictions",
        "val_hd95",
        "val_mean_dice",
        "val_mean_iou",
    ]
    assert [name for _, name in state["best_checkpoint"]["_saved"]] == ["model.pt"]
    saved = json.loads((evaluation / "datalist.json").read_text())  # the split built from dataset_dir, for reruns
    assert [len(saved[s]) for s in ("training", "validation", "test")] == [4, 2, 2]
    for name in ("training_curves.png", "val_overlays.png"):
        with Image.open(evaluation / name) as png:
            assert png.format == "PNG" and min(png.size) >= 200


def test_resume_after_a_stop_mid_way(trained: dict, tmp_path: Path) -> None:
    run = {
        **trained["common"],
        "output_dir": str(tmp_path / "eval"),
        "ckpt_dir": str(tmp_path / "models"),
        "dataset_dir": str(trained["data"]),
        "max_epochs": 3,
        "batch_size": 4,  # one iteration per epoch
        "val_batch_size": 2,
        "warmup_epochs": 1,
    }
    first = _workflow([CONFIGS / "train.json"], "train", "training", **run)
    first.initialize()
    first.trainer.add_event_handler(Events.EPOCH_COMPLETED(once=1), lambda engine: engine.terminate())
    first.run()
    first.finalize()
    assert [p.name for p in (tmp_path / "models").glob("checkpoint_epoch=*.pt")] == ["checkpoint_epoch=1.pt"]
    second = _workflow([CONFIGS / "train.json"], "train", "training", resume=True, **run)
    second.initialize()
    trainer = second.trainer
    second.run()
    second.finalize()
    assert trainer.state.epoch == 3 and trainer.state.iteration == 3
    state = torch.load(tmp_path / "models" / "checkpoint_epoch=3.pt", weights_only=True)
    assert dict(state["trainer"]) == {"epoch_length": 1, "iteration": 3, "max_epochs": 3}
    assert state["lr_scheduler"]["last_epoch"] == 3
    assert sorted(state["training_curves"]["loss_history"]) == [1, 2, 3]  # the curves continue after the resume
    shutil.rmtree(tmp_path / "models")  # about 1 GB of checkpoints


def test_evaluate_writes_metrics_on_the_test_split(trained: dict, tmp_path: Path) -> None:
    # the same split as training, given as a datalist JSON with paths relative to its folder
    datalist_file = tmp_path / "lists" / "kvasir8.json"
    datalist = build_kvasir_seg_datalist(trained["data"], fractions=FRACTIONS)
    save_datalist_json(datalist, datalist_file, relative_to=datalist_file.parent)
    assert not os.path.isabs(json.loads(datalist_file.read_text())["test"][0]["image"])
    evaluate = _workflow(
        [CONFIGS / "train.json", CONFIGS / "evaluate.json"],
        "train",
        "evaluating",
        datalist=str(datalist_file),
        **trained["common"],
    )
    _run(evaluate, check_properties=False)
    evaluation = trained["root"] / "eval"
    with open(evaluation / "metrics.csv") as f:
        metrics = {row[0]: float(row[1]) for row in csv.reader(f)}
    expected = {"test_mean_dice", "test_mean_iou", "test_hd95", "test_empty_predictions"}
    assert set(metrics) == expected, "named for the split they measure"
    assert 0.0 <= metrics["test_mean_iou"] <= metrics["test_mean_dice"] <= 1.0
    # empty predictions are counted and score the image diagonal instead of being left out (HD95 never NaN)
    assert metrics["test_empty_predictions"] in (0.0, 1.0, 2.0) and math.isfinite(metrics["test_hd95"])
    with open(evaluation / "test_mean_dice_raw.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(Path(r["filename"]).name for r in rows) == sorted(Path(i["image"]).name for i in datalist["test"])
    assert math.isclose(np.mean([float(r["class0"]) for r in rows]), metrics["test_mean_dice"], rel_tol=1e-4)
    with Image.open(evaluation / "eval_overlays.png") as png:
        assert png.format == "PNG"


def _write_dicom(path: Path, pixels: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = generate_uid(), generate_uid(), "ES"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_inference_writes_binary_masks_at_the_input_size(trained: dict, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    jpegs = sorted((trained["data"] / "images").iterdir())[:2]
    expected = {}  # mask file name -> (width, height) of the input
    for jpeg in jpegs:
        shutil.copy(jpeg, inputs / jpeg.name)
        expected[f"{jpeg.stem}_mask.png"] = Image.open(jpeg).size
    with Image.open(jpegs[0]) as frame:
        frame.crop((0, 0, 256, 192)).save(inputs / "crop.png")  # non-square RGB
        gray = np.asarray(frame.convert("L").resize((200, 120)))  # (rows, columns) = (120, 200)
    expected["crop_mask.png"] = (256, 192)
    _write_dicom(inputs / "frame.dcm", gray)
    expected["frame_mask.png"] = (200, 120)
    nibabel.save(nibabel.Nifti1Image(gray.T.astype(np.float32), np.eye(4)), inputs / "slice.nii.gz")
    expected["slice_mask.png"] = (200, 120)
    (inputs / "notes.txt").write_text("not an image")
    output = tmp_path / "masks"
    infer = _workflow(
        [CONFIGS / "inference.json"],
        "infer",
        "run",
        bundle_root=str(BUNDLE),
        dataset_dir=str(inputs),
        output_dir=str(output),
        ckpt_path=str(trained["root"] / "models" / "model.pt"),
        spatial_size=[SIZE, SIZE],
        num_workers=0,
    )
    _run(infer)
    assert sorted(p.name for p in output.glob("*_mask.png")) == sorted(expected)
    for name, size in expected.items():
        with Image.open(output / name) as mask:
            values = np.asarray(mask)
            assert mask.size == size and mask.mode == "L", name
            assert set(np.unique(values)) <= {0, 255}, name
    with Image.open(output / "inference_overlays.png") as png:
        assert png.format == "PNG"


def test_metadata_verifies_offline(tmp_path: Path) -> None:
    if not SCHEMA.is_file():
        pytest.skip(f"schema not found at {SCHEMA}")
    schema = tmp_path / "schema.json"
    shutil.copy(SCHEMA, schema)  # an existing file is used as is: no download
    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(schema))
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"]
    assert meta["schema"].endswith("meta_schema_20240725.json") and "required_packages_version" in meta
    assert "#" not in json.dumps(meta)


def test_verify_net_in_out() -> None:
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(CONFIGS / "metadata.json"),
        config_file=str(CONFIGS / "inference.json"),
        device="cpu",
    )


def test_ckpt_export_matches_pytorch(trained: dict, tmp_path: Path) -> None:
    ckpt, ts_file = trained["root"] / "models" / "model.pt", tmp_path / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(ts_file),
        ckpt_file=str(ckpt),
        meta_file=str(CONFIGS / "metadata.json"),
        config_file=str(CONFIGS / "inference.json"),
        use_trace=True,
        input_shape=[1, 3, SIZE, SIZE],
    )
    extra = {"metadata.json": "", "inference.json": ""}
    scripted = torch.jit.load(str(ts_file), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["version"] == "0.1.0"
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(ckpt, weights_only=True))
    net.eval()
    torch.manual_seed(0)
    for size in (SIZE, 2 * SIZE):  # traced at 64 px, also valid at other multiples of 32
        x = torch.randn(1, 3, size, size)
        with torch.no_grad():
            expected, actual = net(x), scripted(x)
        assert actual.shape == (1, 1, size, size)
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    ts_file.unlink()
