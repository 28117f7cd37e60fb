# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Draw a predicted CT mask over its CT slice, the way 3D Slicer shows it, and say whether the two share a geometry.

Written for this project (docs/ct.md's figure); no code copied. The CT (a DICOM series folder or a NIfTI file) is read
with MONAI's readers (ITK for a series: HU, RAS affine), the mask ``.nii.gz`` with nibabel. Both are brought to RAS
and one axial slice is drawn in the radiological convention that 3D Slicer's red (axial) view uses: patient right on
the left of the screen, anterior at the top. Left panel: the CT slice in an HU window; right panel: the mask (filled)
and, when given, a reference label (outline). The mask must have the CT's shape and affine (to 0.01 mm), as the
``.nii.gz`` that ``inference_ct.json`` writes does: then Slicer overlays it on the series without any registration
(Add Data -> the .nii.gz as a segmentation, or as a label map volume).

Usage::

    python scripts/ct_overlay.py --image ../shared/data/ct_volumes/example_ct_dicom \\
        --mask bundles/mfsf2net_segmentation/eval/ct/inference/example_ct_dicom_mask.nii.gz --output /tmp/ct_overlay.png

Prints the geometry of both and the slice drawn; writes the PNG to ``--output`` (never into the repository unless
told to).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _ras(volume, affine):  # noqa: ANN001, ANN202 - numpy in, numpy out
    """``volume`` (X, Y, Z) and its 4x4 affine, with axes reordered/flipped to RAS (nibabel's orientation tools)."""
    import nibabel

    ornt = nibabel.orientations.io_orientation(affine)
    return nibabel.orientations.apply_orientation(volume, ornt), affine @ nibabel.orientations.inv_ornt_aff(
        ornt, volume.shape
    )


def _screen(axial: np.ndarray) -> np.ndarray:
    """An (R, A) axial RAS slice as 3D Slicer draws it: rows anterior -> posterior, columns patient right -> left."""
    return axial.T[::-1, ::-1]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="the CT: a DICOM series folder or a NIfTI file (HU)")
    parser.add_argument("--mask", required=True, help="the predicted mask (.nii.gz) in the CT's geometry")
    parser.add_argument("--label", default=None, help="optional reference label map (.nii.gz), drawn as an outline")
    parser.add_argument("--label-value", type=int, default=1, help="value of the reference label to outline")
    parser.add_argument("--window", type=float, nargs=2, default=(400.0, 40.0), metavar=("WIDTH", "LEVEL"))
    parser.add_argument(
        "--slice", type=int, default=None, help="axial slice (RAS); default the largest mask (else reference) area"
    )
    parser.add_argument("--output", required=True, help="the PNG to write")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nibabel

    from monai_fusion.transforms import LoadMedicalImage

    image = LoadMedicalImage(ensure_channel_first=True)(args.image)
    ct, ct_affine = np.asarray(image[0]), np.asarray(image.affine, dtype=float)
    mask_img = nibabel.load(args.mask)
    mask = np.asanyarray(mask_img.dataobj)
    same = mask.shape == ct.shape and np.allclose(mask_img.affine, ct_affine, atol=0.01)
    print(f"CT   {args.image}: shape {ct.shape}, spacing {np.round(np.linalg.norm(ct_affine[:3, :3], axis=0), 4)} mm")
    print(f"mask {args.mask}: shape {mask.shape}, values {np.unique(mask).tolist()}")
    print(f"same voxel grid (shape and affine): {same}")
    if not same:
        print(
            "the mask is not on the CT's voxel grid; 3D Slicer would need a resampling to overlay it", file=sys.stderr
        )
        return 1
    ct_ras, _ = _ras(ct, ct_affine)
    mask_ras, _ = _ras(mask, ct_affine)
    label_ras = None
    if args.label:
        label_img = nibabel.load(args.label)
        label_ras, _ = _ras(np.asanyarray(label_img.dataobj) == args.label_value, label_img.affine)
    area = (mask_ras > 0).sum(axis=(0, 1))
    reference = label_ras.sum(axis=(0, 1)) if label_ras is not None else np.zeros_like(area)
    if args.slice is not None:
        z = args.slice
    elif area.any():  # the slice with the largest predicted area
        z = int(area.argmax())
    elif reference.any():  # nothing predicted: the slice with the largest reference area
        z = int(reference.argmax())
    else:
        z = ct_ras.shape[2] // 2
    print(
        f"axial slice {z} of {ct_ras.shape[2]} (RAS order), mask area {int(area[z])} voxels, reference area "
        f"{int(reference[z])} voxels; whole mask {int((mask_ras > 0).sum())} voxels"
    )

    width, level = args.window
    shown = np.clip((_screen(ct_ras[:, :, z]) - (level - width / 2)) / width, 0, 1)
    spacing = np.linalg.norm(ct_affine[:3, :3], axis=0)
    aspect = float(spacing[1] / spacing[0])  # screen rows are the A axis, columns the R axis
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 4.6), dpi=90)
    for ax in axes:
        ax.imshow(shown, cmap="gray", aspect=aspect, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.01, 0.5, "R", color="yellow", transform=ax.transAxes, va="center")
        ax.text(0.97, 0.5, "L", color="yellow", transform=ax.transAxes, va="center")
        ax.text(0.5, 0.97, "A", color="yellow", transform=ax.transAxes, ha="center", va="top")
    axes[0].set_title(f"CT, axial slice {z}, W {width:g} / L {level:g} HU", fontsize=9)
    overlay = np.ma.masked_where(_screen(mask_ras[:, :, z]) == 0, _screen(mask_ras[:, :, z]))
    axes[1].imshow(overlay, cmap="autumn", alpha=0.5, aspect=aspect, interpolation="nearest", vmin=0, vmax=1)
    if label_ras is not None and label_ras[:, :, z].any():
        # contour() draws at (column, row) in the image's pixel coordinates, the same axes imshow set up
        axes[1].contour(_screen(label_ras[:, :, z]).astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
    title = f"predicted mask (filled, {int(area[z])} voxels here)"
    axes[1].set_title(title + (",\nreference label (outline)" if args.label else ""), fontsize=9)
    fig.text(
        0.5,
        0.02,
        f"{Path(args.image).name} -> {Path(args.mask).name}: same shape {ct.shape} and affine, "
        "so 3D Slicer overlays the mask on the series as it is",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, bbox_inches="tight", pad_inches=0.1)  # nothing clipped, titles included
    plt.close(fig)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
