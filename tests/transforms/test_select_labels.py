# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""SelectLabels(d): a multi-label map reduced to the chosen organs, renumbered 1..N."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from monai_fusion.transforms import SelectLabels, SelectLabelsd


def test_binary_and_multiclass_and_merged() -> None:
    seg = torch.tensor([[0, 1, 2, 3, 5, 117]], dtype=torch.uint8)
    assert SelectLabels([1])(seg).tolist() == [[0, 1, 0, 0, 0, 0]]
    assert SelectLabels([5, 1])(seg).tolist() == [[0, 2, 0, 0, 1, 0]]
    assert SelectLabels([[2, 3], 117])(seg).tolist() == [[0, 0, 1, 1, 0, 2]]
    assert SelectLabels([1])(seg).dtype == torch.uint8


def test_keeps_metadata_and_dictionary_version() -> None:
    affine = torch.diag(torch.tensor([3.0, 3.0, 3.0, 1.0], dtype=torch.float64))
    seg = MetaTensor(torch.tensor([[[[0.0, 1.0, 4.0]]]]), affine=affine)
    out = SelectLabelsd(keys="label", labels=[4])({"label": seg})["label"]
    assert isinstance(out, MetaTensor) and out.tolist() == [[[[0.0, 0.0, 1.0]]]]
    torch.testing.assert_close(out.affine, affine)


@pytest.mark.parametrize("labels", [[], [1, 1], [0], [[1], [1, 2]]])
def test_rejects_bad_label_lists(labels: list) -> None:
    with pytest.raises(ValueError):
        SelectLabels(labels)
