"""Lesion-wise detection: hand-computed 2D and 3D cases, pooling, plain data, and panoptica."""

from __future__ import annotations

import doctest
import json
import math
from typing import Any

import numpy as np
import pytest

from medunet.evaluation import lesion_matching, lesions
from medunet.evaluation.lesion_matching import match_lesions
from medunet.evaluation.lesions import (
    LesionSettings,
    detect_lesions,
    evaluate_lesions,
    summarise_lesions,
)

DEPTH = 3  # slices a 2D case is extruded to in its 3D twin: sizes and volume errors times 3


def _lift(a: np.ndarray, ndim: int) -> np.ndarray:
    """``a`` itself in 2D, or ``a`` repeated over ``DEPTH`` slices in 3D."""
    return a if ndim == 2 else np.repeat(a[None], DEPTH, axis=0)


def _scale(ndim: int) -> int:
    """How many voxels one pixel of a 2D case becomes in its 3D twin."""
    return 1 if ndim == 2 else DEPTH


def _mask(shape: tuple[int, ...], *boxes: Any) -> np.ndarray:
    """A ``uint8`` mask with 1 inside every box."""
    m = np.zeros(shape, np.uint8)
    for box in boxes:
        m[box] = 1
    return m


S = np.s_

# ----------------------------------------------------------------------------------- hand cases


@pytest.mark.parametrize("ndim", [2, 3])
def test_touching_lesions_are_one_under_full_connectivity(ndim: int) -> None:
    # two 2x2 squares that meet only at a corner (in 3D: along an edge)
    ref = _lift(_mask((8, 8), S[1:3, 1:3], S[3:5, 3:5]), ndim)
    full = match_lesions(ref, ref)
    assert (full.tp, full.fp, full.fn) == (1, 0, 0)
    assert full.lesions[0].size_voxels == 8 * _scale(ndim)
    assert full.lesions[0].dice == 1.0
    face = match_lesions(ref, ref, connectivity="face")
    assert (face.tp, face.fp, face.fn) == (2, 0, 0)
    assert [les.size_voxels for les in face.lesions] == [4 * _scale(ndim)] * 2


def test_cubes_meeting_at_one_corner_are_one_lesion_in_3d() -> None:
    ref = _mask((6, 6, 6), S[0:2, 0:2, 0:2], S[2:4, 2:4, 2:4])
    pred = _mask((6, 6, 6), S[0:2, 0:2, 0:2])
    det = match_lesions(ref, pred)
    # one 16-voxel lesion, half of it predicted: IoU 8/16, Dice 16/24
    assert (det.tp, det.fp, det.fn) == (1, 0, 0)
    assert det.lesions[0].size_voxels == 16
    assert det.lesions[0].iou == pytest.approx(0.5)
    assert det.lesions[0].dice == pytest.approx(2 / 3)
    face = match_lesions(ref, pred, connectivity="face")
    assert (face.tp, face.fp, face.fn) == (1, 0, 1)


@pytest.mark.parametrize("ndim", [2, 3])
def test_split_lesion_matches_the_piece_of_larger_iou(ndim: int) -> None:
    # a 4x6 lesion predicted as a 4x1 sliver (scanned first, id 1) and a 4x4 block (id 2)
    ref = _lift(_mask((8, 10), S[2:6, 2:8]), ndim)
    pred = _lift(_mask((8, 10), S[2:6, 2:3], S[2:6, 4:8]), ndim)
    det = match_lesions(ref, pred)
    m = _scale(ndim)
    assert (det.tp, det.fp, det.fn) == (1, 1, 0)
    les = det.lesions[0]
    assert les.pred_id == 2
    assert les.iou == pytest.approx(16 / 24)
    assert les.dice == pytest.approx(2 * 16 / 40)
    assert les.volume_error == pytest.approx(-8 * m)
    assert les.relative_volume_error == pytest.approx(-1 / 3)
    assert [(fp.pred_id, fp.size_voxels) for fp in det.false_positives] == [(1, 4 * m)]
    # no piece above the threshold: the lesion is missed and both pieces are false positives
    none = match_lesions(ref, pred, iou_threshold=0.7)
    assert (none.tp, none.fp, none.fn) == (0, 2, 1)


@pytest.mark.parametrize("ndim", [2, 3])
def test_merged_pair_matches_one_lesion_and_misses_the_other(ndim: int) -> None:
    # lesions of 16 and 8 pixels covered by one 32-pixel component: IoU 0.5 and 0.25
    ref = _lift(_mask((8, 12), S[2:6, 2:6], S[2:6, 8:10]), ndim)
    pred = _lift(_mask((8, 12), S[2:6, 2:10]), ndim)
    det = match_lesions(ref, pred)
    m = _scale(ndim)
    assert (det.tp, det.fp, det.fn) == (1, 0, 1)
    a, b = det.lesions
    assert (a.detected, a.pred_id, a.iou, a.dice) == (True, 1, 0.5, pytest.approx(2 / 3))
    assert (a.volume_error, a.relative_volume_error) == (16 * m, 1.0)
    assert (b.detected, b.pred_id, b.iou, b.dice) == (False, None, 0.0, 0.0)
    assert (b.volume_error, b.relative_volume_error) == (None, None)
    # an IoU equal to the threshold is not enough: two misses and one false positive
    strict = match_lesions(ref, pred, iou_threshold=0.5)
    assert (strict.tp, strict.fp, strict.fn) == (0, 1, 2)


def test_matching_maximises_total_iou_not_the_best_single_pair() -> None:
    # A = cols 0..9 and B = cols 11..12 (reference); Y = cols 0..3 and X = cols 5..11 (pred).
    # IoU(A,X) = 5/12 is the best single pair, but A-Y (0.4) + B-X (1/8) has the larger total.
    ref = _mask((3, 16), S[1, 0:10], S[1, 11:13])
    pred = _mask((3, 16), S[1, 0:4], S[1, 5:12])
    det = match_lesions(ref, pred)
    assert (det.tp, det.fp, det.fn) == (2, 0, 0)
    assert [les.pred_id for les in det.lesions] == [1, 2]
    assert [les.iou for les in det.lesions] == [pytest.approx(0.4), pytest.approx(1 / 8)]
    assert [les.dice for les in det.lesions] == [pytest.approx(8 / 14), pytest.approx(2 / 9)]


@pytest.mark.parametrize("ndim", [2, 3])
def test_missed_small_lesion_false_positive_and_min_size(ndim: int) -> None:
    # a 36-pixel lesion found, a 1-pixel lesion missed, a 6-pixel false positive
    ref = _lift(_mask((16, 16), S[2:8, 2:8], S[12, 12]), ndim)
    pred = _lift(_mask((16, 16), S[2:8, 2:8], S[12:14, 2:5]), ndim)
    m = _scale(ndim)
    det = match_lesions(ref, pred)
    assert (det.tp, det.fp, det.fn) == (1, 1, 1)
    assert [les.size_voxels for les in det.lesions] == [36 * m, 1 * m]
    assert [les.detected for les in det.lesions] == [True, False]
    assert [fp.size_voxels for fp in det.false_positives] == [6 * m]
    assert det.sensitivity == 0.5 and det.precision == 0.5 and det.f1 == 0.5
    # the 1-pixel lesion falls below min_size; the false positive stays
    kept = match_lesions(ref, pred, min_size=2 * m)
    assert (kept.tp, kept.fp, kept.fn) == (1, 1, 0)
    assert (kept.dropped_reference, kept.dropped_predicted) == (1, 0)
    # a larger min_size drops the false positive too
    big = match_lesions(ref, pred, min_size=7 * m)
    assert (big.tp, big.fp, big.fn) == (1, 0, 0)
    assert (big.dropped_reference, big.dropped_predicted) == (1, 1)


def test_iou_equal_to_the_threshold_does_not_match() -> None:
    ref = _mask((4, 12), S[1, 0:10])
    pred = _mask((4, 12), S[1, 4])  # IoU exactly 1/10
    assert (match_lesions(ref, pred).tp, match_lesions(ref, pred).fn) == (0, 1)
    assert match_lesions(ref, pred, iou_threshold=0.05).tp == 1


@pytest.mark.parametrize("ndim", [2, 3])
def test_empty_reference_and_empty_prediction(ndim: int) -> None:
    blobs = _lift(_mask((10, 10), S[1:3, 1:3], S[6:9, 6:9]), ndim)
    empty = np.zeros_like(blobs)
    only_pred = match_lesions(empty, blobs)
    assert (only_pred.tp, only_pred.fp, only_pred.fn) == (0, 2, 0)
    assert (only_pred.sensitivity, only_pred.precision, only_pred.f1) == (None, 0.0, 0.0)
    assert only_pred.lesions == ()
    only_ref = match_lesions(blobs, empty)
    assert (only_ref.tp, only_ref.fp, only_ref.fn) == (0, 0, 2)
    assert (only_ref.sensitivity, only_ref.precision, only_ref.f1) == (0.0, None, 0.0)
    assert [les.dice for les in only_ref.lesions] == [0.0, 0.0]
    neither = match_lesions(empty, empty)
    assert (neither.tp, neither.fp, neither.fn) == (0, 0, 0)
    assert (neither.sensitivity, neither.precision, neither.f1) == (None, None, None)


def _anisotropic_case() -> tuple[np.ndarray, np.ndarray]:
    """Lines of 5, 8 and 12 voxels (9.6, 15.36, 23.04 mm^3 at 3 x 0.8 x 0.8 mm); pred adds a
    6-voxel false positive (11.52 mm^3) and grows the 12-voxel line by 4 voxels."""
    shape = (4, 6, 20)
    ref = _mask(shape, S[0, 0, 0:5], S[0, 3, 0:8], S[2, 0, 0:12])
    pred = _mask(shape, S[0, 0, 0:5], S[0, 3, 0:8], S[2, 0, 0:12], S[2, 1, 0:4], S[2, 4, 0:6])
    return ref, pred


def test_min_size_in_mm3_under_anisotropic_spacing_differs_from_voxels() -> None:
    ref, pred = _anisotropic_case()
    mm = match_lesions(ref, pred, spacing=(3.0, 0.8, 0.8), min_size=10.0)
    # 10 mm^3 drops the 5-voxel line (9.6 mm^3) only, on both sides
    assert mm.volume_unit == "mm3"
    assert (mm.tp, mm.fp, mm.fn) == (2, 1, 0)
    assert (mm.dropped_reference, mm.dropped_predicted) == (1, 1)
    assert [les.size_voxels for les in mm.lesions] == [8, 12]
    assert [les.size for les in mm.lesions] == [pytest.approx(15.36), pytest.approx(23.04)]
    grown = mm.lesions[1]
    assert grown.dice == pytest.approx(24 / 28)
    assert grown.volume_error == pytest.approx(4 * 1.92)
    assert grown.relative_volume_error == pytest.approx(1 / 3)
    assert mm.false_positives[0].size == pytest.approx(11.52)
    # 10 voxels drops the 5- and 8-voxel lines and the 6-voxel false positive
    vox = match_lesions(ref, pred, min_size=10.0)
    assert vox.volume_unit == "voxels"
    assert (vox.tp, vox.fp, vox.fn) == (1, 0, 0)
    assert (vox.dropped_reference, vox.dropped_predicted) == (2, 3)
    assert vox.lesions[0].volume_error == 4.0


def test_2d_sizes_in_mm2() -> None:
    ref = _mask((6, 6), S[1:3, 1:4])
    det = match_lesions(ref, ref, spacing=(2.0, 0.5))
    assert det.volume_unit == "mm2"
    assert det.lesions[0].size == pytest.approx(6.0)


def test_classes_are_matched_separately() -> None:
    ref = np.zeros((8, 8), np.int64)
    ref[1:4, 1:4] = 1
    ref[5:7, 5:7] = 2
    pred = ref.copy()
    pred[1:4, 1:4] = 2  # the class-1 lesion predicted as class 2
    one, two = detect_lesions(ref, pred, 3, case_id="c")
    assert (one.label, one.tp, one.fp, one.fn) == (1, 0, 0, 1)
    assert (two.label, two.tp, two.fp, two.fn) == (2, 1, 1, 0)
    assert one.case_id == two.case_id == "c"


# ----------------------------------------------------------------------------------- pooling


def _pool_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Split (TP+FP), merged (TP+FN), missed small + FP, and an empty reference with 2 FPs."""
    return [
        ("split", _mask((8, 10), S[2:6, 2:8]), _mask((8, 10), S[2:6, 2:3], S[2:6, 4:8])),
        ("merged", _mask((8, 12), S[2:6, 2:6], S[2:6, 8:10]), _mask((8, 12), S[2:6, 2:10])),
        ("small", _mask((16, 16), S[2:8, 2:8], S[12, 12]),
         _mask((16, 16), S[2:8, 2:8], S[12:14, 2:5])),
        ("empty", _mask((10, 10)), _mask((10, 10), S[1:3, 1:3], S[6:9, 6:9])),
    ]


def test_pooled_counts_rates_dice_and_size_bins() -> None:
    ev = evaluate_lesions(_pool_cases(), 2)
    assert [d.case_id for d in ev.per_case] == ["split", "merged", "small", "empty"]
    (s,) = ev.pooled
    assert (s.label, s.num_cases, s.tp, s.fp, s.fn) == (1, 4, 3, 4, 2)
    assert s.sensitivity == pytest.approx(3 / 5)
    assert s.precision == pytest.approx(3 / 7)
    assert s.f1 == pytest.approx(6 / 12)
    assert s.fp_per_case == 1.0
    assert s.mean_dice_detected == pytest.approx((0.8 + 2 / 3 + 1.0) / 3)
    assert s.mean_dice_all == pytest.approx((0.8 + 2 / 3 + 0.0 + 1.0 + 0.0) / 5)
    # lesion sizes 24, 16, 8 (missed), 36, 1 (missed) in the default bins
    assert [(b.lower, b.upper, b.lesions, b.detected) for b in s.size_bins] == [
        (0, 10, 2, 0), (10, 100, 3, 3), (100, 1000, 0, 0), (1000, math.inf, 0, 0)]
    assert [b.detection_rate for b in s.size_bins] == [0.0, 1.0, None, None]
    # bins are [lower, upper): the 8- and 24-pixel lesions sit on an edge
    custom = summarise_lesions(ev.per_case, size_bins=(0, 8, 24, math.inf))[0]
    assert [(b.lesions, b.detected) for b in custom.size_bins] == [(1, 0), (2, 1), (2, 2)]


def test_pooled_without_lesions_is_undefined_not_zero() -> None:
    ev = evaluate_lesions([("a", _mask((6, 6)), _mask((6, 6)))], 2)
    (s,) = ev.pooled
    assert (s.sensitivity, s.precision, s.f1) == (None, None, None)
    assert (s.mean_dice_detected, s.mean_dice_all, s.fp_per_case) == (None, None, 0.0)


def test_to_dict_is_plain_json_with_none_for_undefined() -> None:
    doc = evaluate_lesions(_pool_cases(), 2, spacing={c: (1.0, 0.5) for c, _, _ in
                                                     _pool_cases()}).to_dict()
    text = json.dumps(doc, allow_nan=False)  # no inf or NaN anywhere
    back = json.loads(text)
    assert back["settings"] == {"connectivity": "full", "iou_threshold": 0.1, "min_size": 0.0,
                                "size_bins": [0.0, 10.0, 100.0, 1000.0, None]}
    pooled = back["pooled"][0]
    assert (pooled["volume_unit"], pooled["tp"], pooled["fp"], pooled["fn"]) == ("mm2", 3, 4, 2)
    assert pooled["size_bins"][-1]["upper"] is None
    merged = back["per_case"][1]
    assert (merged["case"], merged["label"], merged["sensitivity"]) == ("merged", 1, 0.5)
    assert merged["lesions"][1] == {
        "lesion_id": 2, "size_voxels": 8, "size": 4.0, "detected": False, "pred_id": None,
        "iou": 0.0, "dice": 0.0, "volume_error": None, "relative_volume_error": None}
    assert back["per_case"][3]["sensitivity"] is None
    assert back["per_case"][3]["false_positives"][0] == {"pred_id": 1, "size_voxels": 4,
                                                         "size": 2.0}


def test_inputs_are_not_modified() -> None:
    (cid, ref, pred), *_ = _pool_cases()
    ref0, pred0 = ref.copy(), pred.copy()
    evaluate_lesions([(cid, ref, pred)], 2, min_size=5)
    np.testing.assert_array_equal(ref, ref0)
    np.testing.assert_array_equal(pred, pred0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"iou_threshold": 1.0}, "iou_threshold"),
    ({"iou_threshold": -0.1}, "iou_threshold"),
    ({"min_size": -1.0}, "min_size"),
    ({"connectivity": "corner"}, "connectivity"),
    ({"size_bins": (0, 10, 5)}, "size_bins"),
    ({"spacing": (1.0,)}, "case a: spacing"),
    ({"spacing": {"b": (1.0, 1.0)}}, "case a: no spacing"),
])
def test_bad_options_raise_value_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate_lesions([("a", _mask((4, 4)), _mask((4, 4)))], 2, **kwargs)


def test_bad_masks_raise_value_error_naming_the_case() -> None:
    with pytest.raises(ValueError, match="case a: prediction label values must lie in 0..1"):
        evaluate_lesions([("a", _mask((4, 4)), _mask((4, 4), S[1, 1]) * 2)], 2)
    with pytest.raises(ValueError, match="case b: reference shape"):
        evaluate_lesions([("b", _mask((4, 4)), _mask((4, 5)))], 2)
    with pytest.raises(ValueError, match="2D or 3D"):
        match_lesions(np.zeros(4), np.zeros(4))


def test_mixed_size_units_are_not_pooled() -> None:
    a = detect_lesions(_mask((4, 4), S[1, 1]), _mask((4, 4)), 2, spacing=(1.0, 1.0))
    b = detect_lesions(_mask((4, 4), S[1, 1]), _mask((4, 4)), 2)
    with pytest.raises(ValueError, match="mm2 and voxels"):
        summarise_lesions(a + b)


def test_settings_normalise_bins_to_floats() -> None:
    assert LesionSettings(size_bins=(0, 1)).size_bins == (0.0, 1.0)


# ----------------------------------------------------------------------------------- panoptica
# panoptica's MaxBipartiteMatching solves linear_sum_assignment on the cost 1 - IoU among pairs
# whose IoU beats the threshold (strict_threshold=True: ">", as ours), 1 + 1e-6 elsewhere, so it
# maximises the total IoU plus 1e-6 per match: our rule, unless two assignments tie within 1e-6.
# Its NaiveThresholdMatching is greedy by IoU and differs (see the total-IoU case above, where it
# finds 1 TP instead of 2). Its cc3d backend labels with full connectivity (8 in 2D, 26 in 3D);
# the scipy one would use 4 / 6, so cc3d is chosen in 2D as well.


def _panoptica(ref: np.ndarray, pred: np.ndarray, threshold: float) -> Any:
    """panoptica's result for binary masks, with the matcher and components that match ours."""
    pan = pytest.importorskip("panoptica")
    from panoptica.utils.citation_reminder import disable_citation_reminder

    disable_citation_reminder()
    evaluator = pan.Panoptica_Evaluator(
        expected_input=pan.InputType.SEMANTIC,
        instance_approximator=pan.ConnectedComponentsInstanceApproximator(
            cca_backend=pan.CCABackend.cc3d),
        instance_matcher=pan.MaxBipartiteMatching(
            matching_metric=pan.Metric.IOU, matching_threshold=threshold, strict_threshold=True),
        instance_metrics=[pan.Metric.DSC, pan.Metric.IOU], global_metrics=[pan.Metric.DSC])
    return evaluator.evaluate(pred.astype(np.uint8), ref.astype(np.uint8),
                              verbose=False)["ungrouped"]


def _balls(shape: tuple[int, ...], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """A mask holding one ball per centre and radius."""
    grid = np.indices(shape)
    out = np.zeros(shape, np.uint8)
    for c, r in zip(centres, radii, strict=True):
        dist2 = sum((g - ci) ** 2 for g, ci in zip(grid, c, strict=True))
        out[dist2 <= r * r] = 1
    return out


def _scene(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Random lesions, a jittered and partly missed prediction of them, and false positives."""
    rng = np.random.default_rng(seed)
    n = 8
    centres = rng.uniform(2, np.array(shape) - 2, (n, len(shape)))
    radii = rng.uniform(1.0, 4.0, n)
    ref = _balls(shape, centres, radii)
    found = rng.random(n) < 0.75
    jitter = rng.normal(0, 1.2, (int(found.sum()), len(shape)))
    extra = rng.uniform(2, np.array(shape) - 2, (3, len(shape)))
    pred = _balls(shape, np.concatenate([centres[found] + jitter, extra]),
                  np.concatenate([radii[found] * rng.uniform(0.6, 1.4, int(found.sum())),
                                  rng.uniform(1.0, 2.5, 3)]))
    return ref, pred


_HAND = {
    "split": (_mask((8, 10), S[2:6, 2:8]), _mask((8, 10), S[2:6, 2:3], S[2:6, 4:8])),
    "merged": (_mask((8, 12), S[2:6, 2:6], S[2:6, 8:10]), _mask((8, 12), S[2:6, 2:10])),
    "total-iou": (_mask((3, 16), S[1, 0:10], S[1, 11:13]), _mask((3, 16), S[1, 0:4], S[1, 5:12])),
    "touching-2d": (_mask((8, 8), S[1:3, 1:3], S[3:5, 3:5]), _mask((8, 8), S[1:3, 1:3])),
    "touching-3d": (_mask((6, 6, 6), S[0:2, 0:2, 0:2], S[2:4, 2:4, 2:4]),
                    _mask((6, 6, 6), S[0:2, 0:2, 0:2])),
}


@pytest.mark.parametrize("threshold", [0.1, 0.3])
@pytest.mark.parametrize("case", [*_HAND, *[f"random-2d-{s}" for s in range(4)],
                                  *[f"random-3d-{s}" for s in range(3)]])
def test_agrees_with_panoptica_max_bipartite_matching(case: str, threshold: float) -> None:
    if case in _HAND:
        ref, pred = _HAND[case]
    else:
        _, dims, seed = case.split("-")
        ref, pred = _scene(int(seed), (64, 64) if dims == "2d" else (24, 24, 24))
    ours = match_lesions(ref, pred, iou_threshold=threshold)
    theirs = _panoptica(ref, pred, threshold)
    assert (ours.tp, ours.fp, ours.fn) == (theirs.tp, theirs.fp, theirs.fn)
    assert ours.tp + ours.fn > 0 and ours.tp + ours.fp > 0  # every input has lesions both sides
    if ours.tp:  # panoptica's RQ and mean matched Dice (sq_dsc) are edge cases without a TP
        assert ours.f1 == pytest.approx(theirs.rq)
        dice = [les.dice for les in ours.lesions if les.detected]
        assert np.mean(dice) == pytest.approx(theirs.sq_dsc)


def test_docstring_examples_hold() -> None:
    for module in (lesion_matching, lesions):
        assert doctest.testmod(module).failed == 0
