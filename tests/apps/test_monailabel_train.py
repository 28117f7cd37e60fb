# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Training the segmentation bundle through MONAI Label's ``BundleTrainTask`` on 5 real Kvasir-SEG pairs.

The app's train task runs a tiny copy of ``bundles/mfsf2net_segmentation`` (``train.json``, run id ``run``) with the
pairs of a real MONAI Label ``LocalDatastore`` (images + ``labels/final`` masks), then the written ``models/model.pt``
is loaded into the network and served by the app's infer task.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from tests.utils import REPO_ROOT, require_data

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.data,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

APP_DIR = REPO_ROOT / "apps" / "monailabel"
NUM_PAIRS = 5


def import_monailabel() -> None:
    """Make the app importable; skip without monailabel unless ``MONAI_FUSION_REQUIRE_DATA=1`` (CI installs it)."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    from fusion_label.compat import patch_pydicom_seg

    patch_pydicom_seg()
    try:
        import monailabel  # noqa: F401
    except ImportError as e:
        if os.environ.get("MONAI_FUSION_REQUIRE_DATA", "0") == "1":
            pytest.fail(f"monailabel is not importable ({e}); install it as docs/monailabel.md says")
        pytest.skip(f"monailabel is not installed ({e})")


def test_train_segmentation_bundle_through_monailabel(tmp_path: Path) -> None:
    import_monailabel()
    from fusion_label.infers import SegmentationBundleInferTask
    from fusion_label.trainers import SegmentationBundleTrainTask
    from monailabel.datastore.local import LocalDatastore

    from monai_fusion.networks.nets import MFSF2NetSeg
    from tests.apps.label_bundles import make_tiny_bundle

    kvasir = require_data("kvasir_seg")
    studies = tmp_path / "studies"
    (studies / "labels" / "final").mkdir(parents=True)
    names = sorted(os.listdir(kvasir / "images"))[:NUM_PAIRS]
    for name in names:
        os.symlink(kvasir / "images" / name, studies / name)
        os.symlink(kvasir / "masks" / name, studies / "labels" / "final" / name)
    datastore = LocalDatastore(str(studies), extensions=["*.jpg"])
    assert len(datastore.datalist()) == NUM_PAIRS

    bundle = make_tiny_bundle("mfsf2net_segmentation", tmp_path / "bundles", weights=False)
    task = SegmentationBundleTrainTask(str(bundle), {})
    assert task.is_valid()
    request = {"model": "mfsf2net_segmentation", "max_epochs": 1, "device": "cpu", "multi_gpu": False, "val_split": 0.4}
    task(request, datastore)

    weights = bundle / "models" / "model.pt"
    assert weights.is_file(), f"training wrote {sorted(p.name for p in (bundle / 'models').glob('*'))}"
    state = torch.load(weights, weights_only=True)
    net = MFSF2NetSeg(fuse_channels=16, decoder_channels=16)
    net.load_state_dict(state)  # strict: every tensor of the tiny network, nothing else
    assert [p.name for p in (bundle / "models").glob("checkpoint_epoch=*.pt")] == ["checkpoint_epoch=1.pt"]
    latest = torch.load(bundle / "models" / "checkpoint_epoch=1.pt", weights_only=True)
    # 3 training pairs (5 with val_split 0.4), batch 2, drop_last: 1 iteration in the one epoch
    assert dict(latest["trainer"]) == {"epoch_length": 1, "iteration": 1, "max_epochs": 1}

    infer = SegmentationBundleInferTask(str(bundle), {})
    mask_file, result = infer({"image": str(kvasir / "images" / names[0]), "device": "cpu"})
    from PIL import Image

    with Image.open(mask_file) as mask:
        assert mask.size == Image.open(kvasir / "images" / names[0]).size
    assert result["label_names"] == {"polyp": 1}


def test_train_task_never_reports_done_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that writes no ``models/model.pt`` raises (the server's task ends in ERROR, not DONE); "pretrained" without
    a file (``None`` or missing) trains from scratch instead of MONAI Label's ``os.path.exists(None)`` TypeError."""
    import_monailabel()
    from fusion_label.security import RequestRefusedError
    from fusion_label.trainers import SegmentationBundleTrainTask
    from monailabel.tasks.train.bundle import BundleTrainTask

    from tests.apps.label_bundles import make_tiny_bundle

    bundle = make_tiny_bundle("mfsf2net_segmentation", tmp_path / "bundles", weights=False)
    task = SegmentationBundleTrainTask(str(bundle), {})
    handlers: list = []
    task._load_checkpoint(None, False, handlers)
    task._load_checkpoint(str(bundle / "models" / "model.pt"), True, handlers)
    assert handlers == []

    class TwoLabels:
        def datalist(self) -> list:
            return [{"image": "a", "label": "a"}, {"image": "b", "label": "b"}]

    monkeypatch.setattr(BundleTrainTask, "__call__", lambda self, request, datastore: {})  # trains nothing
    with pytest.raises(RuntimeError, match=r"training finished without writing .*model\.pt"):
        task({"model": "mfsf2net_segmentation", "max_epochs": 1}, TwoLabels())
    with pytest.raises(RequestRefusedError, match="at least 2 labelled images"):
        task({"model": "mfsf2net_segmentation"}, type("One", (), {"datalist": lambda self: [{}]})())
    with pytest.raises(RequestRefusedError, match="model_filename '../x.pt' refused"):
        task({"model": "mfsf2net_segmentation", "model_filename": "../x.pt"}, TwoLabels())
