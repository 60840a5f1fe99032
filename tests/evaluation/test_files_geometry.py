"""Geometry is checked, not assumed: a volume prediction on another grid than its reference is
refused with one line, or resampled onto the reference grid (nearest) when asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medunet.cli import main
from medunet.data.cases import DatasetError
from medunet.evaluation.arrays import CaseFiles
from medunet.evaluation.files import _read_pair, evaluate_dirs
from medunet.evaluation.geometry import resample_to_reference
from medunet.io import ImageMeta, read_mask

REF_SPACING = (0.7, 0.9, 3.0)  # (x, y, z) mm, as SimpleITK and NIfTI store it
REF_ORIGIN = (10.0, -20.0, 5.0)
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _write(path: Path, arr: np.ndarray, spacing: tuple[float, ...], origin: tuple[float, ...],
           direction: tuple[float, ...] = IDENTITY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return path


def _labels() -> np.ndarray:
    """(Z, Y, X) labels that are not symmetric in y: class 1 near y = 0, class 2 further on."""
    arr = np.zeros((5, 12, 10), np.uint8)
    arr[1:4, 1:4, 2:8] = 1
    arr[2:4, 6:10, 3:6] = 2
    return arr


def _reversed_y(tmp_path: Path) -> tuple[Path, Path]:
    """The reference, and the same voxels stored with the y axis reversed (another writer's
    choice): the direction's y column is negated and the origin moved to the other end, so
    every voxel keeps its world position."""
    arr = _labels()
    ref = _write(tmp_path / "ref" / "case.nii.gz", arr, REF_SPACING, REF_ORIGIN)
    ny = arr.shape[1]
    origin = (REF_ORIGIN[0], REF_ORIGIN[1] + REF_SPACING[1] * (ny - 1), REF_ORIGIN[2])
    flipped = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
    _write(tmp_path / "pred" / "case.nii.gz", arr[:, ::-1, :], REF_SPACING, origin, flipped)
    return tmp_path / "pred", ref.parent


def _box(shape_zyx: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """The box x in [2.5, 9.5), y in [3.5, 10.5), z in [2.5, 11.5) mm rasterised by voxel centres
    on a grid with origin 0; its faces lie half-way between 1 mm voxel centres, so nearest
    resampling from the 1 mm grid onto any grid here is exact."""
    z, y, x = (np.arange(n) * s for n, s in zip(shape_zyx, spacing[::-1], strict=True))
    inside = [(2.5 <= x) & (x < 9.5), (3.5 <= y) & (y < 10.5), (2.5 <= z) & (z < 11.5)]
    return (inside[2][:, None, None] & inside[1][None, :, None] & inside[0][None, None, :]
            ).astype(np.uint8)


def _one_mm(tmp_path: Path) -> tuple[Path, Path]:
    """A 0.7 x 0.9 x 3 mm reference and a prediction of the same box saved on a 1 mm grid."""
    ref_shape, pred_shape = (6, 16, 20), (16, 16, 16)
    ref = _write(tmp_path / "ref" / "box.nii.gz", _box(ref_shape, REF_SPACING), REF_SPACING,
                 (0.0, 0.0, 0.0))
    _write(tmp_path / "pred" / "box.nii.gz", _box(pred_shape, (1.0, 1.0, 1.0)), (1.0, 1.0, 1.0),
           (0.0, 0.0, 0.0))
    return tmp_path / "pred", ref.parent


CASES: dict[str, Callable[[Path], tuple[Path, Path]]] = {"reversed_y": _reversed_y, "one_mm": _one_mm}


@pytest.mark.parametrize("make", CASES.values(), ids=list(CASES))
def test_other_grid_is_refused_with_one_problem(tmp_path: Path,
                                                make: Callable[[Path], tuple[Path, Path]]) -> None:
    pred_dir, ref_dir = make(tmp_path)
    with pytest.raises(DatasetError) as exc:
        evaluate_dirs(pred_dir, ref_dir, lesions=None, bootstrap=None)
    [problem] = exc.value.problems
    assert problem.path.parent == pred_dir
    assert "\n" not in str(problem)


@pytest.mark.parametrize("make", CASES.values(), ids=list(CASES))
def test_cli_refuses_other_grid_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              make: Callable[[Path], tuple[Path, Path]]) -> None:
    pred_dir, ref_dir = make(tmp_path)
    code = main(["evaluate", str(pred_dir), str(ref_dir), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("make", CASES.values(), ids=list(CASES))
def test_resampled_onto_the_reference_grid_scores_one(
    tmp_path: Path, make: Callable[[Path], tuple[Path, Path]]
) -> None:
    pred_dir, ref_dir = make(tmp_path)
    doc = evaluate_dirs(pred_dir, ref_dir, geometry="resample", lesions=None,
                        bootstrap=None).document()
    [row] = doc.per_case
    assert row.dice is not None and set(row.dice.values()) == {1.0}
    assert row.hd95 is not None and set(row.hd95.values()) == {0.0}
    [name] = [f.name for f in ref_dir.iterdir()]
    pair = _read_pair(CaseFiles("c", pred_dir / name, ref_dir / name), None, [], geometry="resample")
    assert pair is not None and pair.resampled
    assert pair.pred.shape == pair.ref.shape
    assert pair.spacing == pytest.approx(REF_SPACING[::-1])  # per array axis (z, y, x)


def test_cli_resample_to_reference(tmp_path: Path) -> None:
    pred_dir, ref_dir = _reversed_y(tmp_path)
    out = tmp_path / "out"
    code = main(["evaluate", str(pred_dir), str(ref_dir), "--out", str(out),
                 "--resample-to-reference", "--bootstrap", "0", "--no-lesions"])
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert [set(r["dice"].values()) for r in doc["per_case"]] == [{1.0}]


def test_same_voxels_with_another_spacing_are_refused(tmp_path: Path) -> None:
    # the array matches in shape, but its header says 1 mm: measuring it at the reference's
    # spacing would silently score a mask of another physical size
    arr = _labels()
    _write(tmp_path / "ref" / "c.nii.gz", arr, REF_SPACING, REF_ORIGIN)
    _write(tmp_path / "pred" / "c.nii.gz", arr, (1.0, 1.0, 1.0), REF_ORIGIN)
    with pytest.raises(DatasetError) as exc:
        evaluate_dirs(tmp_path / "pred", tmp_path / "ref", lesions=None, bootstrap=None)
    assert [p.path for p in exc.value.problems] == [tmp_path / "pred" / "c.nii.gz"]


def test_matching_grids_are_not_resampled(tmp_path: Path) -> None:
    arr = _labels()
    ref = _write(tmp_path / "ref" / "c.nii.gz", arr, REF_SPACING, REF_ORIGIN)
    pred = _write(tmp_path / "pred" / "c.nii.gz", np.roll(arr, 1, axis=2), REF_SPACING, REF_ORIGIN)
    pair = _read_pair(CaseFiles("c", pred, ref), None, [], geometry="resample")
    assert pair is not None and not pair.resampled
    assert np.array_equal(pair.pred, np.roll(arr, 1, axis=2))


def test_rasters_have_no_geometry_beyond_shape(tmp_path: Path, write_png: Callable) -> None:
    mask = np.zeros((8, 9), np.uint8)
    mask[2:5, 3:7] = 1
    ref = write_png(tmp_path / "ref" / "a.png", mask)
    pred = write_png(tmp_path / "pred" / "a.png", mask)
    pair = _read_pair(CaseFiles("a", pred, ref), None, [])
    assert pair is not None and pair.unit == "px" and not pair.resampled
    problems: list = []
    small = write_png(tmp_path / "pred" / "b.png", mask[:7])
    assert _read_pair(CaseFiles("b", small, ref), None, problems, geometry="resample") is None
    assert [p.path for p in problems] == [small]


def test_resample_to_reference_keeps_world_positions() -> None:
    # a 2x2 in-plane grid at 2 mm onto a 4x4 grid at 1 mm: each voxel takes its nearest label
    coarse = ImageMeta(Path("p.nii"), (1, 2, 2), "uint8", "volume", spacing=(2.0, 2.0, 1.0),
                       origin=(0.5, 0.5, 0.0), direction=IDENTITY)
    fine = ImageMeta(Path("r.nii"), (1, 4, 4), "uint8", "volume", spacing=(1.0, 1.0, 1.0),
                     origin=(0.0, 0.0, 0.0), direction=IDENTITY)
    labels = np.array([[[1, 2], [3, 4]]], np.int64)
    out = resample_to_reference(labels, coarse, fine)
    assert out.dtype == labels.dtype
    assert out[0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


def test_read_mask_of_written_files_keeps_the_flip(tmp_path: Path) -> None:
    # guards the fixture: the reversed-y file holds the reversed array and the flipped direction
    pred_dir, ref_dir = _reversed_y(tmp_path)
    arr, meta = read_mask(pred_dir / "case.nii.gz")
    assert np.array_equal(arr, _labels()[:, ::-1, :]) and meta.direction[4] == -1.0
