"""Boundary distances (HD95, ASSD, NSD): brute force, hand-computed cases, policy, evaluation."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.spatial.distance import cdist

from medunet.data.labels import LabelSet
from medunet.distances import (
    DistanceSettings,
    DistanceStat,
    assd,
    boundary_mask,
    boundary_metrics,
    hd95,
    nsd,
    summarise_boundary,
    surface_distances,
)
from medunet.evaluation.arrays import evaluate_arrays
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.writing import write_evaluation
from medunet.io import ImageMeta
from medunet.io.meta import array_spacing
from medunet.report.html import render_report
from medunet.surfaces import _surface_distances

ANISO = (6.5, 0.78, 0.78)

# --- brute-force reference ----------------------------------------------------------------------


def _brute_boundary(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside the mask or outside the image."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    outside = np.zeros(mask.shape, bool)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            shifted = tuple(slice(1 + step, padded.shape[a] - 1 + step) if a == axis else inner[a]
                            for a in range(mask.ndim))
            outside |= ~padded[shifted]
    return mask & outside


def _brute_distances(ref: np.ndarray, pred: np.ndarray, spacing: tuple[float, ...]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """All boundary-point pairs at physical coordinates ``index * spacing``."""
    a = np.argwhere(_brute_boundary(ref)) * np.asarray(spacing)
    b = np.argwhere(_brute_boundary(pred)) * np.asarray(spacing)
    if len(a) == 0 or len(b) == 0:
        return np.full(len(a), np.inf), np.full(len(b), np.inf)
    d = cdist(a, b)
    return d.min(axis=1), d.min(axis=0)


def _brute_metrics(ref: np.ndarray, pred: np.ndarray, spacing: tuple[float, ...], tol: float
                   ) -> dict[str, float | None]:
    d1, d2 = _brute_distances(ref, pred, spacing)
    both = np.hstack((d1, d2))
    if both.size == 0:
        return {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    if len(d1) == 0 or len(d2) == 0:
        return {"hd95": None, "assd": None, "nsd": 0.0}
    return {"hd95": float(np.percentile(both, 95)), "assd": float(both.mean()),
            "nsd": float(((d1 <= tol).sum() + (d2 <= tol).sum()) / both.size)}


def _blobs(rng: np.random.Generator, shape: tuple[int, ...], fill: float) -> np.ndarray:
    """Random multi-component blobs that often touch the image border."""
    field = ndimage.gaussian_filter(rng.normal(size=shape), sigma=1.2, mode="wrap")
    return field > np.quantile(field, 1.0 - fill)


def _random_pairs() -> list[tuple[str, np.ndarray, np.ndarray, tuple[float, ...]]]:
    rng = np.random.default_rng(2024)
    out = []
    for i in range(4):
        out.append((f"2d-{i}", _blobs(rng, (24, 20), 0.3), _blobs(rng, (24, 20), 0.25), (1.0, 1.0)))
    out.append(("2d-aniso", _blobs(rng, (17, 23), 0.4), _blobs(rng, (17, 23), 0.2), (0.78, 1.3)))
    for i in range(3):
        out.append((f"3d-aniso-{i}", _blobs(rng, (9, 12, 10), 0.3), _blobs(rng, (9, 12, 10), 0.35),
                    ANISO))
    out.append(("3d-iso", _blobs(rng, (8, 8, 8), 0.3), _blobs(rng, (8, 8, 8), 0.3), (1.0,) * 3))
    a = _blobs(rng, (11, 9, 10), 0.3)
    b = a.copy()
    b[3:7, 2:6, 4:8] ^= True  # overlapping, mostly shared boundary
    out.append(("3d-overlap", a, b, (2.0, 0.5, 1.25)))
    one = np.zeros((12, 10, 9), bool)
    one[5, 4, 3] = True
    out.append(("single-voxel-vs-blobs", one, _blobs(rng, (12, 10, 9), 0.2), ANISO))
    corner = np.zeros((12, 10, 9), bool)
    corner[0, 0, 0] = True
    out.append(("single-voxels", one, corner, ANISO))
    out.append(("full-image", np.ones((10, 13), bool), _blobs(rng, (10, 13), 0.5), (1.0, 0.78)))
    return out


PAIRS = _random_pairs()


@pytest.mark.parametrize("shape", [(9, 13), (7, 6, 8)])
def test_boundary_is_mask_minus_face_erosion(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    for _ in range(5):
        m = _blobs(rng, shape, float(rng.uniform(0.1, 0.9)))
        assert np.array_equal(boundary_mask(m), _brute_boundary(m))
    assert not boundary_mask(np.zeros(shape, bool)).any()
    full = boundary_mask(np.ones(shape, bool))  # border_value=0: the image border is a boundary
    assert full.sum() == np.prod(shape) - np.prod([s - 2 for s in shape])


@pytest.mark.parametrize(("name", "ref", "pred", "spacing"), PAIRS, ids=[p[0] for p in PAIRS])
def test_agrees_with_brute_force(name: str, ref: np.ndarray, pred: np.ndarray,
                                 spacing: tuple[float, ...]) -> None:
    assert ref.any() and pred.any(), name
    d1, d2 = surface_distances(ref, pred, spacing)
    e1, e2 = _brute_distances(ref, pred, spacing)
    np.testing.assert_allclose(d1, e1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(d2, e2, rtol=0, atol=1e-6)
    for tol in (1.5, 2.3, 7.0):
        got, want = boundary_metrics(ref, pred, spacing, tol), _brute_metrics(ref, pred, spacing, tol)
        assert got["hd95"] == pytest.approx(want["hd95"], abs=1e-6)
        assert got["assd"] == pytest.approx(want["assd"], abs=1e-6)
        assert got["nsd"] == pytest.approx(want["nsd"], abs=1e-12)
        assert got["nsd"] == nsd(ref, pred, spacing, tol)
    assert hd95(ref, pred, spacing) == got["hd95"] and assd(ref, pred, spacing) == got["assd"]


# --- hand-computed cases ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 5])
def test_parallel_lines_shifted_by_k(k: int) -> None:
    ref = np.zeros((20, 16), bool)
    ref[3, 2:14] = True
    pred = np.roll(ref, k, axis=0)
    spacing = (0.5, 0.3)
    assert boundary_metrics(ref, pred, spacing, tolerance_mm=0.5 * k) == {
        "hd95": 0.5 * k, "assd": 0.5 * k, "nsd": 1.0}
    assert nsd(ref, pred, spacing, tolerance_mm=0.5 * k - 0.01) == 0.0


def test_planes_shifted_along_the_thick_axis() -> None:
    ref = np.zeros((8, 6, 7), bool)
    ref[2] = True
    pred = np.zeros_like(ref)
    pred[4] = True
    assert boundary_metrics(ref, pred, ANISO) == {"hd95": 13.0, "assd": 13.0, "nsd": 0.0}


@pytest.mark.parametrize("k", [1, 3, 6])
def test_squares_shifted_by_k(k: int) -> None:
    ref = np.zeros((30, 30), bool)
    ref[5:15, 5:15] = True
    pred = np.roll(ref, k, axis=1)
    d1, d2 = surface_distances(ref, pred)
    assert d1.size == d2.size == 36  # a 10x10 square's face-connected outline
    assert max(d1.max(), d2.max()) == k  # the Hausdorff distance is the shift
    # distance 0 only where the outlines overlap: 10 - k voxels on the top and bottom rows
    assert nsd(ref, pred, tolerance_mm=0.5) == pytest.approx((10 - k) / 18)
    assert nsd(ref, pred, tolerance_mm=k) == 1.0


def test_symmetry() -> None:
    for _, a, b, spacing in PAIRS:
        ab, ba = boundary_metrics(a, b, spacing, 1.5), boundary_metrics(b, a, spacing, 1.5)
        assert ab["hd95"] == ba["hd95"] and ab["nsd"] == ba["nsd"]
        assert ab["assd"] == pytest.approx(ba["assd"], rel=1e-12)


def test_identical_masks() -> None:
    for _, a, _, spacing in PAIRS:
        assert boundary_metrics(a, a.copy(), spacing, 0.0) == {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}


# --- empty masks and errors ---------------------------------------------------------------------


def test_empty_mask_policy() -> None:
    empty = np.zeros((6, 7, 5), bool)
    blob = empty.copy()
    blob[1:4, 2:5, 1:3] = True
    assert boundary_metrics(empty, empty, ANISO) == {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    for ref, pred in ((empty, blob), (blob, empty)):
        assert boundary_metrics(ref, pred, ANISO) == {"hd95": None, "assd": None, "nsd": 0.0}
        assert hd95(ref, pred) is None and assd(ref, pred) is None and nsd(ref, pred) == 0.0
    d1, d2 = surface_distances(blob, empty)
    assert d2.size == 0 and d1.size == boundary_mask(blob).sum() and np.isinf(d1).all()


def test_inputs_are_not_modified_and_labels_count_as_true() -> None:
    ref = np.zeros((6, 6), np.int64)
    ref[1:4, 1:4] = 3
    before = ref.copy()
    assert boundary_metrics(ref, ref > 0) == {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    assert np.array_equal(ref, before)


def test_errors_name_what_was_expected() -> None:
    a = np.zeros((4, 5), bool)
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(5, 4\)"):
        boundary_metrics(a, a.T)
    with pytest.raises(ValueError, match="expected 2"):
        boundary_metrics(a, a, ANISO)
    with pytest.raises(ValueError, match="positive"):
        surface_distances(a, a, (1.0, 0.0))
    with pytest.raises(ValueError, match="tolerance_mm"):
        nsd(a, a, tolerance_mm=-1.0)


# --- the cropped fast path ----------------------------------------------------------------------


@st.composite
def _mask_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    ref = draw(arrays(np.bool_, shape))
    pred = draw(arrays(np.bool_, shape))
    spacing = tuple(draw(st.lists(st.sampled_from([0.5, 0.78, 1.0, 2.5, 6.5]),
                                  min_size=ndim, max_size=ndim)))
    return ref, pred, spacing


@settings(max_examples=40, deadline=None)
@given(_mask_pairs())
def test_cropping_never_changes_the_distances(case: tuple[np.ndarray, np.ndarray, tuple[float, ...]]
                                              ) -> None:
    ref, pred, spacing = case
    full = _surface_distances(ref, pred, spacing, margin=None)
    for margin in (0, 1, 3):
        cropped = _surface_distances(ref, pred, spacing, margin=margin)
        for got, want in zip(cropped, full, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


# --- evaluation ---------------------------------------------------------------------------------


def _label_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    cases = []
    for i in range(3):
        ref = np.zeros((6, 14, 12), np.int64)
        ref[_blobs(rng, ref.shape, 0.3)] = 1
        ref[1:4, 2:6, 3:8] = 2
        pred = ref.copy()
        pred[_blobs(rng, ref.shape, 0.1)] = 1
        cases.append((f"c{i}", ref, pred))
    ref = np.zeros((6, 14, 12), np.int64)
    pred = ref.copy()
    pred[2, 3, 4] = 1  # class 1: reference empty; class 2: both empty
    cases.append(("empty", ref, pred))
    return cases


def test_evaluate_arrays_adds_distances_and_keeps_the_rest() -> None:
    cases = _label_cases()
    labels = LabelSet((0, 1, 2), ("bg", "a", "b"))
    spacing = (3.0, 0.8, 0.8)
    ev = evaluate_arrays(cases, labels, spacing=spacing, distance=DistanceSettings(tolerance_mm=2.0))
    doc = ev.to_dict()
    plain = evaluate_arrays(cases, labels, distances=False).to_dict()
    assert doc["pooled"] == plain["pooled"]
    assert all(doc["mean_case"][k] == v for k, v in plain["mean_case"].items())
    assert doc["distance_unit"] == "mm" and doc["nsd_tolerance"] == 2.0
    assert "hd95" not in plain["per_case"][0] and "distance_unit" not in plain
    for row, (_, ref, pred) in zip(doc["per_case"], cases, strict=True):
        for c, name in ((1, "a"), (2, "b")):
            want = boundary_metrics(ref == c, pred == c, spacing, 2.0)
            assert {k: row[k][name] for k in ("hd95", "assd", "nsd")} == want
        assert set(row["hd95"]) == {"a", "b"}
    mc = doc["mean_case"]
    hd_a = [r["hd95"]["a"] for r in doc["per_case"]]
    assert hd_a[-1] is None
    assert mc["hd95"]["a"] == {"mean": float(np.mean(hd_a[:-1])), "std": float(np.std(hd_a[:-1])),
                               "n": 3, "undefined": 1}
    assert mc["nsd"]["a"]["n"] == 4 and mc["nsd"]["a"]["undefined"] == 0
    assert mc["hd95"]["b"]["n"] == 4 and doc["per_case"][-1]["hd95"]["b"] == 0.0
    assert mc["distance_empty_cases"] == {
        "a": {"both_empty": 0, "reference_empty": 1, "prediction_empty": 0},
        "b": {"both_empty": 1, "reference_empty": 0, "prediction_empty": 0}}
    json.dumps(doc)


def test_evaluate_arrays_spacing_per_case_and_errors() -> None:
    cases = _label_cases()[:2]
    labels = LabelSet.from_count(3)
    ev = evaluate_arrays(cases, labels, spacing={"c0": (1.0, 1.0, 1.0), "c1": (2.0, 2.0, 2.0)})
    rows = ev.document().per_case
    want = boundary_metrics(cases[1][1] == 1, cases[1][2] == 1, (2.0, 2.0, 2.0))
    assert rows[1].hd95 is not None and rows[1].hd95["class_1"] == want["hd95"]
    assert evaluate_arrays(cases, labels).distance_unit == "px"
    with pytest.raises(ValueError, match="case c1: no spacing"):
        evaluate_arrays(cases, labels, spacing={"c0": (1.0, 1.0, 1.0)})
    with pytest.raises(ValueError, match="case c0: spacing .* expected 3"):
        evaluate_arrays(cases, labels, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="nsd-tolerance"):
        evaluate_arrays(cases, labels, distance=DistanceSettings(tolerance_mm=-0.5))


def test_summarise_boundary_counts_undefined() -> None:
    a = {"hd95": 2.0, "assd": 1.0, "nsd": 0.5}
    b = {"hd95": 4.0, "assd": 3.0, "nsd": 1.0}
    none = {"hd95": None, "assd": None, "nsd": 0.0}
    out = summarise_boundary([[a], [b], [none]], ["x"])
    assert out.assd["x"] == DistanceStat(mean=2.0, std=1.0, n=2, undefined=1)
    assert out.nsd["x"].to_dict() == {"mean": 0.5, "std": pytest.approx(0.40824829), "n": 3,
                                      "undefined": 0}
    assert out.to_dict()["assd"]["x"] == {"mean": 2.0, "std": 1.0, "n": 2, "undefined": 1}


def test_volume_spacing_is_reversed_to_array_order() -> None:
    meta = ImageMeta(Path("ct.nii.gz"), (4, 5, 6), "int16", "volume", spacing=(0.7, 0.8, 3.0))
    assert array_spacing(meta) == (3.0, 0.8, 0.7)
    png = ImageMeta(Path("a.png"), (4, 5), "uint8", "L", spacing=(1.0, 2.0))
    assert array_spacing(png) == (1.0, 2.0)


def test_evaluate_dirs_in_pixels_csv_json_and_report(tmp_path: Path, write_png: Callable) -> None:
    ref = np.zeros((20, 24), np.uint8)
    ref[4:12, 5:15] = 1
    write_png(tmp_path / "ref" / "a.png", ref)
    write_png(tmp_path / "pred" / "a.png", np.roll(ref, 2, axis=1))
    write_png(tmp_path / "ref" / "b.png", ref)
    write_png(tmp_path / "pred" / "b.png", np.zeros_like(ref))
    ev = evaluate_dirs(tmp_path / "pred", tmp_path / "ref", labels=LabelSet((0, 1), ("bg", "lesion")),
                       distance=DistanceSettings(tolerance_mm=1.5))
    paths = write_evaluation(ev, tmp_path / "out")
    doc = json.loads(paths["json"].read_text())
    assert doc["distance_unit"] == "px" and doc["nsd_tolerance"] == 1.5
    a, b = doc["per_case"]
    assert a["hd95"]["lesion"] == pytest.approx(np.percentile(
        np.hstack(surface_distances(ref, np.roll(ref, 2, axis=1))), 95))
    assert b["hd95"] == {"lesion": None} and b["nsd"] == {"lesion": 0.0}
    with paths["csv"].open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[1]["hd95_lesion"] == "" and float(rows[0]["hd95_lesion"]) == a["hd95"]["lesion"]
    assert "hd95_bg" not in rows[0] and rows[1]["nsd_lesion"] == "0.0"
    html = paths["html"].read_text()
    assert "HD95 (px)" in html and "NSD @ 1.50 px" in html and "1 undefined" in html
    assert "Per-case HD95 distribution" in html


def test_report_without_distances_is_unchanged() -> None:
    ev = evaluate_arrays(_label_cases()[:1], LabelSet.from_count(3), distances=False)
    html = render_report(ev.document())
    assert "HD95" not in html and "NSD" not in html
