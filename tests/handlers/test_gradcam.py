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
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Engine
from monai.visualize import GradCAM
from torch import nn

from monai_fusion.handlers.gradcam import ChannelsLastGradCAM, GradCAMSaver


class _Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


def _net(channels_last: bool) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2, padding=1)]
    if channels_last:
        layers += [_Permute(0, 2, 3, 1), nn.Identity(), _Permute(0, 3, 1, 2)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3)]
    return nn.Sequential(*layers)


def test_channels_last_gradcam_equals_gradcam_on_channels_first() -> None:
    x = torch.randn(1, 3, 16, 16)
    reference = GradCAM(_net(False), target_layers="2")(x, class_idx=1)
    permuted = ChannelsLastGradCAM(_net(True), target_layers="4")(x, class_idx=1)  # nn.Identity on (B, H, W, C)
    torch.testing.assert_close(permuted, reference)


def test_saver_writes_overlays_and_leaves_network_hook_free(tmp_path: Path) -> None:
    net = _net(False)
    saver = GradCAMSaver(net, "2", str(tmp_path), num_images=3, class_names=["a", "b", "c"])
    engine = Engine(lambda e, b: None)
    saver.attach(engine)
    batches = [
        [{"image": torch.randn(3, 16, 16), "image_path": f"/data/case{i}{j}.nii.gz"} for j in range(2)]
        for i in range(3)
    ]
    engine.run(batches)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"case{n}_gradcam.png" for n in ("00", "01", "10")]
    assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules())
    with pytest.raises(ValueError, match="target_layers"):
        GradCAMSaver(net, "layer4", str(tmp_path))
