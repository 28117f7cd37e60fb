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
"""HUWindow and MultiWindowStack on synthetic HU ramps, and HU read from the real NIfTI and DICOM CT files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor

from monai_fusion.transforms.ct.array import HUWindow, MultiWindowStack
from monai_fusion.transforms.io import LoadMedicalImage
from tests.transforms.helpers import ARRAY_IDS, ARRAY_TYPES, to_numpy
from tests.utils import require_data

# (width, level) in HU, typed in from the issue, not imported from the module under test
WINDOWS = {
    "lung": (1500.0, -600.0),
    "mediastinum": (350.0, 50.0),
    "abdomen": (400.0, 40.0),
    "bone": (1800.0, 400.0),
    "brain": (80.0, 40.0),
}
HU_RAMP = np.linspace(-1600.0, 2000.0, 4 * 37).reshape(1, 4, 37)


def _expected(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    return np.clip((hu - (level - width / 2)) / width, 0.0, 1.0)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
@pytest.mark.parametrize("name", sorted(WINDOWS))
def test_hu_window_presets(name, to_type):
    out = HUWindow(name)(to_type(HU_RAMP))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == HU_RAMP.shape
    np.testing.assert_allclose(to_numpy(out), _expected(HU_RAMP, *WINDOWS[name]), atol=1e-6)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_hu_window_anchor_points_and_custom(to_type):
    hu = to_type(np.array([[-2000.0, -1350.0, -600.0, 150.0, 3000.0]]))
    np.testing.assert_allclose(to_numpy(HUWindow("lung")(hu)), [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-6)
    custom = HUWindow("custom", width=600, level=100)(hu)
    np.testing.assert_allclose(to_numpy(custom), _expected(to_numpy(torch.as_tensor(hu)), 600, 100), atol=1e-6)


def test_hu_window_metadata_is_kept():
    img = MetaTensor(torch.zeros(1, 2, 2), affine=torch.diag(torch.tensor([2.0, 3.0, 1.0])), meta={"id": "case"})
    out = HUWindow("brain")(img)
    assert isinstance(out, MetaTensor) and out.meta["id"] == "case"
    assert torch.equal(out.affine, img.affine)
    np.testing.assert_allclose(to_numpy(out), 0.0, atol=1e-6)  # 0 HU is the lower edge of the brain window (0..80)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window": "liver"}, "unknown window"),
        ({"window": "custom", "width": 400}, "needs both width and level"),
        ({"window": "lung", "level": -500}, "use window='custom'"),
        ({"window": "custom", "width": 0, "level": 40}, "width must be > 0"),
    ],
)
def test_hu_window_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HUWindow(**kwargs)


@pytest.mark.parametrize("to_type", ARRAY_TYPES, ids=ARRAY_IDS)
def test_multi_window_stack(to_type):
    out = MultiWindowStack(("lung", "mediastinum", (600.0, 100.0)))(to_type(HU_RAMP))
    assert out.shape == (3, 4, 37) and out.dtype == torch.float32
    expected = [_expected(HU_RAMP[0], *WINDOWS["lung"]), _expected(HU_RAMP[0], *WINDOWS["mediastinum"])]
    expected.append(_expected(HU_RAMP[0], 600.0, 100.0))
    np.testing.assert_allclose(to_numpy(out), np.stack(expected), atol=1e-6)


def test_multi_window_stack_rejects_bad_input():
    with pytest.raises(ValueError, match="single-channel"):
        MultiWindowStack()(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="non-empty sequence"):
        MultiWindowStack("lung")
    with pytest.raises(ValueError, match=r"\(width, level\)"):
        MultiWindowStack([(1.0, 2.0, 3.0)])


@pytest.mark.data
def test_nifti_values_are_hu_and_window():
    path = require_data("ct_volumes", "example_ct_sm.nii.gz")
    seg_path = require_data("ct_volumes", "example_seg.nii.gz")
    ct = LoadMedicalImage(ensure_channel_first=True)(path)
    raw = nib.load(str(path)).get_fdata()  # nibabel applies scl_slope / scl_inter itself
    assert ct.shape == (1, 122, 101, 30)
    np.testing.assert_array_equal(to_numpy(ct)[0], raw)
    seg = np.asarray(nib.load(str(seg_path)).dataobj)
    hu = to_numpy(ct)[0]
    assert -1100 <= hu.min() < -1000 and np.percentile(hu, 1) < -900  # air
    assert 0 <= np.median(hu[seg > 0]) <= 100  # segmented organs: soft tissue
    stacked = MultiWindowStack(("lung", "mediastinum", "bone"))(ct)
    assert stacked.shape == (3, 122, 101, 30) and 0 <= float(stacked.min()) and float(stacked.max()) <= 1
    np.testing.assert_allclose(to_numpy(stacked)[1], _expected(hu, *WINDOWS["mediastinum"]), atol=1e-6)


def test_nifti_scl_slope_and_inter_are_applied(tmp_path):
    stored = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(stored, np.eye(4))
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, tmp_path / "scaled.nii.gz")
    loaded = LoadMedicalImage()(tmp_path / "scaled.nii.gz")
    np.testing.assert_allclose(to_numpy(loaded), 2.0 * stored - 1024.0)


@pytest.fixture(scope="module")
def dicom_series():
    folder = require_data("ct_volumes", "example_ct_dicom")
    return folder, LoadMedicalImage(reader="PydicomReader")(folder)


@pytest.mark.data
def test_dicom_series_rescale_gives_hu(dicom_series):
    folder, vol = dicom_series
    assert vol.shape == (512, 512, 20)
    first = sorted(folder.iterdir())[0]
    ds = pydicom.dcmread(first)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"  # JPEG 2000 lossless: decoded by a plugin
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert float(ds.RescaleIntercept) == -1024.0
    v = to_numpy(vol)
    assert any(np.array_equal(v[..., k], hu.T) for k in range(v.shape[-1])), "no slice equals the rescaled file"


@pytest.mark.data
def test_dicom_series_air_and_soft_tissue(dicom_series):
    folder, vol = dicom_series
    v = to_numpy(vol)
    inside = v[v > -1024]  # -1024 is the padding outside the reconstruction circle (stored value 0)
    counts, edges = np.histogram(inside, bins=np.arange(-1023, -800, 5))
    assert -1020 <= edges[counts.argmax()] <= -980  # the air peak
    seg_img = nib.load(str(require_data("ct_volumes", "example_seg_dicom.nii.gz")))
    seg = np.asarray(seg_img.dataobj)
    # PydicomReader stacks the slices by descending z (negative z spacing); the label map runs the other way
    if np.sign(float(vol.affine[2, 2])) != np.sign(seg_img.affine[2, 2]):
        v = v[..., ::-1]
    assert 0 <= np.median(v[seg > 0]) <= 100


@pytest.mark.data
@pytest.mark.filterwarnings("ignore:builtin type:DeprecationWarning")  # ITK's SWIG bindings
def test_itk_reader_gives_the_same_hu(dicom_series):
    folder, vol = dicom_series
    itk_vol = LoadMedicalImage(reader="ITKReader")(folder)
    assert float(itk_vol.affine[2, 2]) == -float(vol.affine[2, 2])  # same geometry, opposite slice order
    np.testing.assert_array_equal(to_numpy(itk_vol), to_numpy(vol)[..., ::-1])
