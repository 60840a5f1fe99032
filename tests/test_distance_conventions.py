"""Boundary-distance conventions by name: HD95 ``union`` / ``max_directed``, NSD ``voxel`` / ``surfel``.

Hand-computed cases run everywhere; the comparisons with the reference library of each
convention (MedPy for ``union``, MONAI for ``max_directed`` and voxel NSD, DeepMind's
surface-distance and MONAI ``use_subvoxels=True`` for ``surfel``) run where they are installed,
on small synthetic masks and on real masks from ``../shared/data``.
"""

from __future__ import annotations

import doctest
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import medunet.distance_stats
import medunet.distances
import medunet.evaluation.geometry
import medunet.surfels
from medunet.data.labels import LabelSet
from medunet.distances import DistanceSettings, boundary_metrics, hd95, nsd
from medunet.evaluation.arrays import evaluate_arrays
from medunet.io import read_mask
from medunet.surfels import surfel_distances, surfel_measure_table

#: 3D surfels triangulate with scikit-image's marching cubes (a dependency of nsd_surface="surfel")
needs_skimage = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                   reason="3D surfels need scikit-image")
MAX = {"hd_convention": "max_directed"}
SURFEL = {"nsd_surface": "surfel"}


def _bar() -> np.ndarray:
    bar = np.zeros((1, 4), bool)
    bar[0, :2] = True
    return bar


# --- HD95 conventions ---------------------------------------------------------------------------


def test_max_directed_can_be_smaller_than_union() -> None:
    # two voxels shifted by one along the 0.8 mm axis: each directed set is {0, 0.8}
    bar = _bar()
    pred = np.roll(bar, 1, axis=1)
    assert hd95(bar, pred, (3.0, 0.8)) == pytest.approx(0.8, abs=1e-12)  # percentile of {0, 0, .8, .8}
    assert hd95(bar, pred, (3.0, 0.8), **MAX) == pytest.approx(0.76, abs=1e-12)  # 0 + 0.95 * 0.8


def test_max_directed_can_be_larger_than_union() -> None:
    ref = np.zeros((12, 20), bool)
    ref[1:11, 1:11] = True  # boundary: 36 voxels
    pred = ref.copy()
    pred[4:8, 13] = True  # a 4-voxel speck 3 voxels right of the square
    # union: 72 zeros and 4 threes, position 0.95 * 75 = 71.25 -> 0.25 * 3
    assert hd95(ref, pred) == pytest.approx(0.75)
    # pred -> ref alone: 36 zeros and 4 threes, position 0.95 * 39 = 37.05 -> 3
    assert hd95(ref, pred, **MAX) == pytest.approx(3.0)


@needs_skimage
def test_conventions_change_only_their_metric() -> None:
    rng = np.random.default_rng(5)
    ref = ndimage.gaussian_filter(rng.random((14, 16, 12)), 1.5) > 0.5
    pred = np.roll(ndimage.binary_erosion(ref), 1, axis=2)
    default = boundary_metrics(ref, pred, (3.0, 0.9, 0.7), 1.0)
    other = boundary_metrics(ref, pred, (3.0, 0.9, 0.7), 1.0, **MAX, **SURFEL)
    assert other["assd"] == default["assd"]
    assert other["hd95"] != default["hd95"] and other["nsd"] != default["nsd"]
    assert boundary_metrics(ref, pred, (3.0, 0.9, 0.7), 1.0, **MAX)["nsd"] == default["nsd"]


@pytest.mark.parametrize("settings", [MAX, SURFEL])
def test_empty_mask_policy_is_the_same_under_every_convention(settings: dict[str, str]) -> None:
    ref = np.zeros((6, 7), bool)
    ref[2:4, 2:5] = True
    empty = np.zeros_like(ref)
    assert boundary_metrics(empty, empty, **settings) == {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    assert boundary_metrics(ref, empty, **settings) == {"hd95": None, "assd": None, "nsd": 0.0}
    assert boundary_metrics(empty, ref, **settings) == {"hd95": None, "assd": None, "nsd": 0.0}


def test_unknown_conventions_are_refused() -> None:
    m = np.ones((3, 3), bool)
    with pytest.raises(ValueError, match="hd_convention"):
        boundary_metrics(m, m, hd_convention="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nsd_surface"):
        boundary_metrics(m, m, nsd_surface="mesh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hd-convention"):
        DistanceSettings(hd_convention="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nsd-surface"):
        DistanceSettings(nsd_surface="area")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2D and 3D"):
        boundary_metrics(np.ones(5, bool), np.ones(5, bool), **SURFEL)  # type: ignore[arg-type]


# --- surfels ------------------------------------------------------------------------------------


def test_contour_lengths_by_hand() -> None:
    s0, s1 = 1.0, 3.0
    table = surfel_measure_table((s0, s1))
    half_diagonal = 0.5 * math.hypot(s0, s1)
    # codes: bit 8 = block voxel (0, 0), 4 = (0, 1), 2 = (1, 0), 1 = (1, 1)
    want = {0b0000: 0.0, 0b1111: 0.0, 0b0011: s1, 0b1100: s1, 0b0101: s0, 0b1010: s0,
            0b0110: 2 * half_diagonal, 0b1001: 2 * half_diagonal}
    want.update({c: half_diagonal for c in (0b0001, 0b0010, 0b0100, 0b1000,
                                            0b1110, 0b1101, 0b1011, 0b0111)})
    assert table.tolist() == pytest.approx([want[c] for c in range(16)], abs=1e-12)


@needs_skimage
def test_surface_areas_by_hand() -> None:
    s = (2.0, 0.9, 0.7)
    table = surfel_measure_table(s)
    # bits: block voxel (a, b, c) is bit 2 ** (7 - (4a + 2b + c))
    half = {0: 0b00001111, 1: 0b00110011, 2: 0b01010101}  # the block's half with index 1 on axis k
    assert table[half[0]] == pytest.approx(s[1] * s[2])  # a flat quad across axis 0
    assert table[half[1]] == pytest.approx(s[0] * s[2])
    assert table[half[2]] == pytest.approx(s[0] * s[1])
    # two voxels along axis 2: a quad of length s2 across the half diagonal of axes 0 and 1
    assert table[0b11000000] == pytest.approx(s[2] * 0.5 * math.hypot(s[0], s[1]))
    corner = math.sqrt((s[1] * s[2]) ** 2 + (s[0] * s[2]) ** 2 + (s[0] * s[1]) ** 2) / 8
    assert table[0b10000000] == pytest.approx(corner)
    assert np.allclose(table, table[::-1])  # a block and its complement: the same surface
    assert table[0] == table[255] == 0.0


@needs_skimage
def test_single_voxel_surface_area() -> None:
    one = np.zeros((3, 3, 3), bool)
    one[1, 1, 1] = True
    s = (2.0, 1.0, 1.0)
    d_rp, _, area, _ = surfel_distances(one, one, s)
    # eight corner triangles with legs s/2: area sqrt((s1 s2)^2 + (s0 s2)^2 + (s0 s1)^2) / 8 each
    assert area.tolist() == pytest.approx([3 / 8] * 8)
    assert d_rp.tolist() == [0.0] * 8


def test_surfel_nsd_by_hand_2d() -> None:
    # a 2x2 square and the same square one column right, 1.0 x 3.0 mm, tolerance 0.5 mm: the
    # corners shared by both outlines (distance 0) are two straight 3 mm cuts and two cut corners
    ref = np.zeros((4, 6), bool)
    ref[1:3, 1:3] = True
    pred = np.roll(ref, 1, axis=1)
    h = 0.5 * math.hypot(1.0, 3.0)
    want = (2 * 3.0 + 2 * h) / (2 * 3.0 + 2 * 1.0 + 4 * h)
    assert nsd(ref, pred, (1.0, 3.0), 0.5, **SURFEL) == pytest.approx(want, abs=1e-12)
    assert nsd(ref, pred, (1.0, 3.0), 0.5) == 0.5  # voxels: the shared column of each square


@needs_skimage
def test_surfel_nsd_by_hand_3d() -> None:
    # one voxel and its neighbour along the 2 mm axis: 4 of the 8 corners of each are shared
    one = np.zeros((4, 3, 3), bool)
    one[1, 1, 1] = True
    pred = np.roll(one, 1, axis=0)
    assert nsd(one, pred, (2.0, 1.0, 1.0), 1.0, **SURFEL) == pytest.approx(0.5)
    assert nsd(one, pred, (2.0, 1.0, 1.0), 1.0) == 0.0  # voxel centres are 2 mm apart


@needs_skimage
def test_surfel_crop_is_exact() -> None:
    rng = np.random.default_rng(8)
    small = ndimage.gaussian_filter(rng.random((9, 10, 8)), 1.2) > 0.55
    other = np.roll(small, 1, axis=1)
    big = np.zeros((15, 18, 13), bool)
    big_other = big.copy()
    big[3:12, 5:15, 2:10] = small
    big_other[3:12, 5:15, 2:10] = other
    s = (3.0, 0.8, 0.7)
    got = surfel_distances(big, big_other, s)
    want = surfel_distances(small, other, s)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@needs_skimage
def test_evaluate_arrays_uses_the_named_conventions() -> None:
    rng = np.random.default_rng(11)
    ref = (ndimage.gaussian_filter(rng.random((10, 14, 12)), 1.5) > 0.5).astype(np.int64)
    pred = np.roll(ndimage.binary_erosion(ref), 1, axis=1).astype(np.int64)
    settings = DistanceSettings(tolerance_mm=1.0, hd_convention="max_directed", nsd_surface="surfel")
    row = evaluate_arrays([("c", ref, pred)], LabelSet.from_count(2), spacing=(3.0, 0.9, 0.7),
                          distance=settings).document().per_case[0]
    want = boundary_metrics(ref == 1, pred == 1, (3.0, 0.9, 0.7), 1.0, **MAX, **SURFEL)
    default = boundary_metrics(ref == 1, pred == 1, (3.0, 0.9, 0.7), 1.0)
    assert row.hd95 == {"class_1": want["hd95"]} and row.nsd == {"class_1": want["nsd"]}
    assert want["hd95"] != default["hd95"] and want["nsd"] != default["nsd"]


# --- the reference libraries --------------------------------------------------------------------


def _onehot(mask: np.ndarray):  # type: ignore[no-untyped-def]
    """A ``(1, 2, *S)`` float tensor for MONAI's metrics (background, foreground)."""
    import torch

    return torch.as_tensor(np.stack([~mask, mask])[None].astype(np.float32))


def _library_values(ref: np.ndarray, pred: np.ndarray, spacing: tuple[float, ...], tol: float
                    ) -> dict[str, float]:
    """Each convention's value from its reference library (skipped where one is missing)."""
    medpy = pytest.importorskip("medpy.metric.binary")
    monai = pytest.importorskip("monai.metrics")
    deepmind = pytest.importorskip("surface_distance")
    pytest.importorskip("skimage")  # our 3D surfels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' deprecation notes
        y, p = _onehot(ref), _onehot(pred)
        out = {
            "union": medpy.hd95(pred, ref, voxelspacing=spacing),
            "assd": medpy.assd(pred, ref, voxelspacing=spacing),
            "max_directed": float(monai.compute_hausdorff_distance(p, y, percentile=95,
                                                                   spacing=spacing)),
            "voxel": float(monai.compute_surface_dice(p, y, [tol], spacing=spacing)),
            "surfel_monai": float(monai.compute_surface_dice(p, y, [tol], spacing=spacing,
                                                             use_subvoxels=True)),
        }
        distances = deepmind.compute_surface_distances(ref, pred, spacing)  # deprecated scipy names
        out["surfel"] = float(deepmind.compute_surface_dice_at_tolerance(distances, tol))
    return out


def _assert_conventions_match(ref: np.ndarray, pred: np.ndarray, spacing: tuple[float, ...],
                              tol: float, monai_rel: float) -> None:
    lib = _library_values(ref, pred, spacing, tol)
    union = boundary_metrics(ref, pred, spacing, tol)
    other = boundary_metrics(ref, pred, spacing, tol, **MAX, **SURFEL)
    assert union["hd95"] == pytest.approx(lib["union"], abs=1e-5, rel=0)
    assert union["assd"] == pytest.approx(lib["assd"], abs=1e-5, rel=0)
    assert union["nsd"] == pytest.approx(lib["voxel"], abs=1e-5, rel=0)
    assert other["nsd"] == pytest.approx(lib["surfel"], abs=1e-5, rel=0)
    assert other["nsd"] == pytest.approx(lib["surfel_monai"], abs=1e-5, rel=0)
    assert other["hd95"] == pytest.approx(lib["max_directed"], abs=1e-5, rel=monai_rel)


# 2.0 mm is no distance between points of these lattices, so float32 rounding in MONAI cannot
# move a distance across the tolerance
SYNTHETIC = [((18, 20, 14), (3.0, 0.9, 0.7)), ((16, 15, 17), (0.7, 3.0, 0.9)),
             ((40, 36), (0.9, 0.7)), ((30, 33), (3.0, 0.7))]


@pytest.mark.parametrize(("shape", "spacing"), SYNTHETIC, ids=[str(s) for _, s in SYNTHETIC])
def test_conventions_equal_their_libraries_on_synthetic_masks(
    shape: tuple[int, ...], spacing: tuple[float, ...]
) -> None:
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    ref = ndimage.binary_opening(ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.5)
    pred = np.roll(ndimage.binary_dilation(ref), 2, axis=0) ^ (rng.random(shape) < 0.01)
    # MONAI's torch.quantile runs in float32 (measured: 2e-5 mm off at 6.4 mm), hence rel=1e-5
    _assert_conventions_match(ref, pred, spacing, 2.0, monai_rel=1e-5)


def test_conventions_equal_their_libraries_on_real_masks(shared_data: Path) -> None:
    path = shared_data / "mni152_tissue3d" / "test" / "masks" / "mni152_tissue3d_slab3.nii.gz"
    labels, _ = read_mask(path)
    labels = labels[:, 50:180, 40:160]  # the central third of the slab: faster, still real outlines
    for c in (1, 3):  # CSF (small, scattered) and white matter (large)
        ref = labels == c
        pred = np.roll(ndimage.binary_erosion(ref), 2, axis=1)  # eroded and shifted by 2 voxels
        # the slab's real spacing is 1 mm; an anisotropic one tests the axis order of every library
        _assert_conventions_match(ref, pred, (3.0, 0.9, 0.7), 2.0, monai_rel=0)


def test_bar_claim_matches_the_libraries() -> None:
    medpy = pytest.importorskip("medpy.metric.binary")
    monai = pytest.importorskip("monai.metrics")
    bar = _bar()
    pred = np.roll(bar, 1, axis=1)
    assert medpy.hd95(pred, bar, voxelspacing=(3.0, 0.8)) == pytest.approx(0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = float(monai.compute_hausdorff_distance(_onehot(pred), _onehot(bar), percentile=95,
                                                     spacing=(3.0, 0.8)))
    assert got == pytest.approx(0.76, abs=1e-6)


def test_area_table_equals_deepmind() -> None:
    tables = pytest.importorskip("surface_distance.lookup_tables")
    for s in [(1.0, 1.0, 1.0), (3.0, 0.9, 0.7), (0.5, 2.0, 1.3)]:
        np.testing.assert_allclose(surfel_measure_table(s),
                                   tables.create_table_neighbour_code_to_surface_area(s),
                                   rtol=1e-12, atol=1e-12)
    for s2 in [(1.0, 1.0), (0.9, 3.0)]:
        np.testing.assert_allclose(surfel_measure_table(s2),
                                   tables.create_table_neighbour_code_to_contour_length(s2),
                                   rtol=1e-12, atol=1e-12)


def test_docstring_examples() -> None:
    for module in (medunet.distances, medunet.distance_stats, medunet.surfels,
                   medunet.evaluation.geometry):
        assert doctest.testmod(module).failed == 0, module.__name__
