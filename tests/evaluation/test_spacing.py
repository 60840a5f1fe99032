"""Boundary distances of volume files use the spacing in array (z, y, x) order, not (x, y, z)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medunet.distances import DistanceSettings
from medunet.evaluation.files import evaluate_dirs

SHAPE = (6, 5, 4)  # (Z, Y, X)
SPACING_XYZ = (0.7, 0.9, 3.0)  # mm, as NIfTI and SimpleITK store it: x first
# NIfTI keeps voxel sizes as float32
DX, DZ = float(np.float32(0.7)), 3.0


def _nii(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.SetSpacing(SPACING_XYZ)
    sitk.WriteImage(img, str(path))


def _plates(tmp_path: Path) -> tuple[Path, Path]:
    """Two cases of one-voxel-thick plates, each one voxel apart from its prediction:
    ``z``: across the slices (3.0 mm apart), ``x``: along a row (0.7 mm apart)."""
    z_ref, z_pred = np.zeros(SHAPE), np.zeros(SHAPE)
    z_ref[2, 1:4, 1:3] = 1
    z_pred[3, 1:4, 1:3] = 1
    x_ref, x_pred = np.zeros(SHAPE), np.zeros(SHAPE)
    x_ref[1:4, 1:4, 1] = 1
    x_pred[1:4, 1:4, 2] = 1
    for case, ref, pred in (("z", z_ref, z_pred), ("x", x_ref, x_pred)):
        _nii(tmp_path / "ref" / f"{case}.nii.gz", ref)
        _nii(tmp_path / "pred" / f"{case}.nii.gz", pred)
    return tmp_path / "pred", tmp_path / "ref"


def test_distances_follow_the_array_axes_of_anisotropic_volumes(tmp_path: Path) -> None:
    # every voxel of a plate is a boundary voxel, and its nearest boundary voxel of the other
    # plate is its neighbour along the shifted axis: every distance is that axis' voxel size
    pred_dir, ref_dir = _plates(tmp_path)
    doc = evaluate_dirs(pred_dir, ref_dir, distance=DistanceSettings(tolerance_mm=1.0)).document()
    assert doc.distance_unit == "mm"
    rows = {row.case: row for row in doc.per_case}
    assert rows["x"].hd95 is not None and rows["z"].hd95 is not None
    assert rows["z"].hd95["class_1"] == pytest.approx(DZ, rel=1e-12)
    assert rows["z"].assd == {"class_1": pytest.approx(DZ, rel=1e-12)}
    assert rows["z"].nsd == {"class_1": 0.0}  # 3.0 mm > the 1 mm tolerance
    assert rows["x"].hd95["class_1"] == pytest.approx(DX, rel=1e-12)
    assert rows["x"].assd == {"class_1": pytest.approx(DX, rel=1e-12)}
    assert rows["x"].nsd == {"class_1": 1.0}  # 0.7 mm <= 1 mm
    assert doc.mean_case is not None and doc.mean_case.boundary is not None
    assert doc.mean_case.boundary.hd95["class_1"].mean == pytest.approx((DX + DZ) / 2, rel=1e-12)
