"""Multi-channel cases (``<case>_0000.nii.gz``, ``<case>_0001.nii.gz``) and 3D validation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medunet.data import inspect_dataset
from medunet.data.cases import discover_cases, group_channels, read_case_image

SHAPE = (8, 9, 10)  # (Z, Y, X)


def _nii(path: Path, arr: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 2.0),
         origin: Sequence[float] = (0.0, 0.0, 0.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(spacing))
    img.SetOrigin(tuple(origin))
    sitk.WriteImage(img, str(path))
    return path


def _mask(seed: int) -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[2:6, 3 + seed % 2: 7, 2:8] = 1
    return m


def _dataset(root: Path, channels: dict[str, Sequence[int]]) -> Path:
    """``channels``: case id -> the channel numbers to write (mask ``<case>.nii.gz`` always)."""
    for i, (case, numbers) in enumerate(channels.items()):
        for c in numbers:
            _nii(root / "images" / f"{case}_{c:04d}.nii.gz", np.full(SHAPE, 10 * c + i, np.int16))
        _nii(root / "masks" / f"{case}.nii.gz", _mask(i))
    return root


def _by_name(problems: list) -> dict[str, str]:
    return {p.path.name: p.message for p in problems}


def test_channel_files_form_one_case_in_order(tmp_path: Path) -> None:
    root = _dataset(tmp_path, {"a": (0, 1, 2), "b": (0, 1, 2)})
    cases, problems = discover_cases(root)
    assert problems == []
    a, b = cases["all"]
    assert (a.case_id, b.case_id) == ("a", "b")
    assert a.image.name == "a_0000.nii.gz"
    assert [f.name for f in a.channels] == ["a_0001.nii.gz", "a_0002.nii.gz"]
    assert a.mask is not None and a.mask.name == "a.nii.gz"
    image, meta = read_case_image(b)
    assert image.shape == (3, *SHAPE) and image.dtype == np.float32 and meta.channels == 3
    assert [float(image[c].mean()) for c in range(3)] == [1.0, 11.0, 21.0]


def test_gap_in_channel_numbers_is_a_problem(tmp_path: Path) -> None:
    root = _dataset(tmp_path, {"a": (0, 1), "c": (0, 2)})
    cases, problems = discover_cases(root)
    assert [c.case_id for c in cases["all"]] == ["a"]
    assert len(problems) == 1  # one problem, on the channel files (the mask is not an orphan)
    msg = _by_name(problems)["c_0000.nii.gz"]
    assert "c_0001 missing" in msg and "_0000, _0002" in msg


def test_inconsistent_channel_counts_are_a_problem(tmp_path: Path) -> None:
    root = _dataset(tmp_path, {"a": (0, 1), "b": (0, 1), "c": (0,)})
    cases, problems = discover_cases(root)
    assert [c.case_id for c in cases["all"]] == ["a", "b"]
    msg = _by_name(problems)["c_0000.nii.gz"]
    assert "1 channel file(s)" in msg and "most cases have 2" in msg


def test_numbered_2d_files_with_their_own_masks_stay_separate_cases(
    tmp_path: Path, write_png: Callable[[Path, np.ndarray], Path]
) -> None:
    img = np.zeros((16, 16), np.uint8)
    for stem in ("scan_0001", "scan_0002"):
        write_png(tmp_path / "images" / f"{stem}.png", img)
        write_png(tmp_path / "masks" / f"{stem}.png", img)
    cases, problems = discover_cases(tmp_path)
    assert problems == []
    assert [(c.case_id, c.channels) for c in cases["all"]] == [("scan_0001", ()), ("scan_0002", ())]


def test_group_channels_for_inputs_without_masks(tmp_path: Path) -> None:
    files = {s: tmp_path / f"{s}.nii.gz" for s in ("p_0000", "p_0001", "q_0000", "q_0002", "plain")}
    problems: list = []
    groups = group_channels(files, problems)
    assert groups == {"plain": (files["plain"],), "p": (files["p_0000"], files["p_0001"])}
    assert "q_0001 missing" in problems[0].message


def test_channels_on_different_grids_are_refused(tmp_path: Path) -> None:
    root = _dataset(tmp_path, {"a": (0, 1)})
    bad = _nii(root / "images" / "a_0001.nii.gz", np.zeros(SHAPE, np.int16), spacing=(1.0, 1.0, 3.0))
    (case,) = discover_cases(root)[0]["all"]
    with pytest.raises(ValueError, match=r"a_0001\.nii\.gz: channel grid differs from a_0000\.nii\.gz"):
        read_case_image(case)
    s = inspect_dataset(root)
    assert [p.path for p in s.problems] == [bad] and "spacing" in s.problems[0].message


def test_mask_on_another_grid_names_both_files(tmp_path: Path) -> None:
    root = _dataset(tmp_path, {"a": (0,), "b": (0,)})
    _nii(root / "masks" / "b.nii.gz", _mask(1), origin=(0.0, 5.0, 0.0))
    s = inspect_dataset(root)
    (problem,) = s.problems
    assert problem.path.name == "b.nii.gz" and "b_0000.nii.gz" in problem.message
    assert "origin (0, 0, 0) vs (0, 5, 0)" in problem.message


def test_tiny_rounding_in_geometry_is_accepted(tmp_path: Path) -> None:
    root = _dataset(tmp_path, {"a": (0,)})
    _nii(root / "masks" / "a.nii.gz", _mask(0), spacing=(1.0, 1.0, 2.00002), origin=(1e-5, 0.0, 0.0))
    assert inspect_dataset(root).problems == []


def test_summary_reports_spacing_and_channels(tmp_path: Path) -> None:
    s = inspect_dataset(_dataset(tmp_path, {"a": (0, 1), "b": (0, 1)}))
    assert s.problems == [] and dict(s.channels) == {2: 2}
    d = s.to_dict()
    assert d["shapes"] == {"8x9x10": 2}
    assert d["spacings"] == {"2x1x1": 2}  # per array axis (z, y, x), like the sizes
    assert "2x1x1 (2)" in s.to_text()
