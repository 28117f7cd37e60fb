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
"""SegmentationOverlaySaver: collection, mask resizing / transposition, and the PNG it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from PIL import Image

from monai_fusion.handlers.segmentation_overlays import SegmentationOverlaySaver, _as_2d_mask, _as_display_image


def _batch(index: int) -> list[dict]:
    """Two decollated items: a (3, 16, 12) image, a prediction at another size (1, 8, 6), a (1, 16, 12) label."""
    gen = torch.Generator().manual_seed(index)
    items = []
    for k in range(2):
        image = MetaTensor(torch.rand(3, 16, 12, generator=gen), meta={"filename_or_obj": f"/data/case{index}{k}.jpg"})
        pred = torch.zeros(1, 8, 6)
        pred[0, :4, :3] = 1.0
        label = torch.zeros(1, 16, 12)
        label[0, 4:12, 3:9] = 1.0
        items.append({"image": image, "pred": pred, "label": label})
    return items


def test_saver_draws_the_first_results_of_each_run(tmp_path: Path) -> None:
    engine = Engine(lambda e, batch: _batch(batch))
    saver = SegmentationOverlaySaver(str(tmp_path), filename="val.png", max_images=3)
    saver.attach(engine)
    engine.run([0, 1, 2], max_epochs=1)
    assert len(saver._items) == 3  # 2 + 1 of 6 items, then collection stops
    image, pred, label, name = saver._items[0]
    assert image.shape == (12, 16, 3) and pred.shape == (12, 16) and label.shape == (12, 16)  # transposed for display
    assert name == "case00.jpg" and pred.sum() == 8 * 6 and label.sum() == 8 * 6
    with Image.open(tmp_path / "val.png") as png:
        rgb = np.asarray(png.convert("RGB"))
    assert min(rgb.shape[:2]) >= 200 and rgb.std() > 1.0
    engine.run([5], max_epochs=1)  # a new run starts a new collection
    assert [item[3] for item in saver._items] == ["case50.jpg", "case51.jpg"]


def test_saver_without_reference_masks(tmp_path: Path) -> None:
    engine = Engine(lambda e, batch: [{k: v for k, v in item.items() if k != "label"} for item in _batch(batch)])
    saver = SegmentationOverlaySaver(str(tmp_path), label_key=None, transpose=False)
    saver.attach(engine)
    engine.run([0], max_epochs=1)
    assert saver._items[0][2] is None and saver._items[0][1].shape == (16, 12)
    assert (tmp_path / "overlays.png").is_file()


def test_mask_and_image_helpers() -> None:
    pred = torch.tensor([[[0.2, 0.7], [0.5, 0.1]]])  # (1, 2, 2)
    mask = _as_2d_mask(pred, (4, 4), threshold=0.5)
    expected = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(mask, expected)  # nearest-neighbour upsampling, then value >= threshold
    gray = _as_display_image(torch.tensor([[[2.0, 4.0], [6.0, 10.0]]]))
    assert gray.shape == (2, 2, 3) and gray.min() == 0.0 and gray.max() == 1.0
    np.testing.assert_allclose(gray[..., 0], [[0.0, 0.25], [0.5, 1.0]])
    with pytest.raises(ValueError, match="single-channel"):
        _as_2d_mask(torch.zeros(2, 4, 4), (4, 4), 0.5)
    with pytest.raises(ValueError, match="channel-first"):
        _as_display_image(torch.zeros(2, 4, 4))


def test_saver_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="png"):
        SegmentationOverlaySaver(str(tmp_path), filename="overlays.jpg")
    with pytest.raises(ValueError, match="max_images"):
        SegmentationOverlaySaver(str(tmp_path), max_images=0)
    assert SegmentationOverlaySaver(str(tmp_path)).plot() is None  # nothing collected, nothing written
