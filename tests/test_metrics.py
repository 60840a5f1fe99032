"""Metrics: pooled values identical to scikit-learn's, bit for bit; per-case empty-mask policy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from medunet.data import LabelSet
from medunet.evaluation.arrays import evaluate_arrays
from medunet.metrics import Stat, case_metrics, confusion_matrix, pixel_metrics, summarise_cases


def _sklearn(ref: np.ndarray, pred: np.ndarray, k: int) -> dict[str, object]:
    r, p = ref.ravel(), pred.ravel()
    prec, rec, f1, support = precision_recall_fscore_support(
        r, p, labels=range(k), average=None, zero_division=0
    )
    macro = precision_recall_fscore_support(r, p, labels=range(k), average="macro", zero_division=0)
    return {
        "cm": sk_confusion_matrix(r, p, labels=range(k)),
        "accuracy": accuracy_score(r, p),
        "precision": prec, "recall": rec, "f1": f1, "support": support,
        "macro": macro[:3],
    }


def _assert_same_as_sklearn(ref: np.ndarray, pred: np.ndarray, k: int) -> None:
    sk = _sklearn(ref, pred, k)
    cm = confusion_matrix(ref, pred, k)
    assert cm.dtype == np.int64 and cm.shape == (k, k)
    assert np.array_equal(cm, sk["cm"])
    m = pixel_metrics(cm)
    assert m["accuracy"] == sk["accuracy"]
    for key in ("precision", "recall", "f1"):
        ours = np.asarray(m[key])
        assert ours.dtype == np.float64, key
        assert np.array_equal(ours, sk[key]), key
    # (scikit-learn's support is float64 for a single sample, int64 otherwise: compare values)
    assert np.asarray(m["support"]).dtype == np.int64 and np.array_equal(m["support"], sk["support"])
    assert np.array_equal(np.asarray(m["dice"]), sk["f1"])


def _random_case(rng: np.random.Generator, shape: tuple[int, ...], k: int) -> tuple[np.ndarray, np.ndarray]:
    ref = rng.integers(0, k, shape)
    pred = ref.copy()
    flip = rng.random(shape) < 0.3
    pred[flip] = rng.integers(0, k, int(flip.sum()))
    return ref, pred


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("shape", [(7,), (13, 17), (64, 48), (5, 9, 11)])
def test_random_cases_equal_sklearn(k: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1000 * k + len(shape))
    for _ in range(3):
        ref, pred = _random_case(rng, shape, k)
        _assert_same_as_sklearn(ref, pred, k)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64])
def test_input_dtypes(dtype: type) -> None:
    ref, pred = _random_case(np.random.default_rng(3), (20, 30), 4)
    _assert_same_as_sklearn(ref.astype(dtype), pred.astype(dtype), 4)


def test_imbalanced_with_rare_class() -> None:
    rng = np.random.default_rng(4)
    ref = np.zeros((128, 128), np.int64)
    ref[60:62, 60:63] = 1  # 6 pixels
    pred = ref.copy()
    pred[rng.random(ref.shape) < 0.01] = 1
    _assert_same_as_sklearn(ref, pred, 2)


@pytest.mark.parametrize("k", [2, 5])
def test_empty_masks_all_background(k: int) -> None:
    z = np.zeros((9, 11), np.int64)
    _assert_same_as_sklearn(z, z, k)
    m = pixel_metrics(confusion_matrix(z, z, k))
    assert m["accuracy"] == 1.0
    assert np.array_equal(np.asarray(m["precision"])[1:], np.zeros(k - 1))
    assert np.array_equal(np.asarray(m["f1"]), np.r_[1.0, np.zeros(k - 1)])


def test_class_absent_from_both() -> None:
    rng = np.random.default_rng(5)
    ref, pred = _random_case(rng, (30, 30), 3)
    ref[ref == 2] = 4  # classes 0, 1, 3, 4 used; 2 absent from both
    pred[pred == 2] = 4
    pred[0, 0], ref[1, 1] = 3, 3
    _assert_same_as_sklearn(ref, pred, 5)
    m = pixel_metrics(confusion_matrix(ref, pred, 5))
    assert np.asarray(m["f1"])[2] == 0.0 and np.asarray(m["support"])[2] == 0


@pytest.mark.parametrize(("r", "p"), [(0, 0), (1, 1), (0, 1), (1, 0)])
def test_single_pixel(r: int, p: int) -> None:
    ref, pred = np.array([[r]]), np.array([[p]])
    _assert_same_as_sklearn(ref, pred, 2)
    _assert_same_as_sklearn(ref, pred, 5)


def test_prediction_of_a_class_missing_from_reference() -> None:
    ref = np.zeros((4, 4), np.int64)
    pred = np.zeros((4, 4), np.int64)
    pred[0, :2] = 2
    _assert_same_as_sklearn(ref, pred, 3)


def test_confusion_matrix_orientation_and_doctest() -> None:
    cm = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    assert cm.tolist() == [[1, 0], [1, 1]]  # rows: reference, columns: prediction


def test_confusion_matrix_does_not_modify_inputs() -> None:
    ref, pred = _random_case(np.random.default_rng(6), (10, 10), 3)
    r0, p0 = ref.copy(), pred.copy()
    confusion_matrix(ref, pred, 3)
    assert np.array_equal(ref, r0) and np.array_equal(pred, p0)


def test_confusion_matrix_errors() -> None:
    a = np.zeros((4, 4), np.int64)
    with pytest.raises(ValueError, match=r"shape \(4, 4\) and prediction shape \(4, 5\)"):
        confusion_matrix(a, np.zeros((4, 5), np.int64), 2)
    b = a.copy()
    b[0, 0] = 2
    with pytest.raises(ValueError, match=r"0\.\.1, found 0\.\.2"):
        confusion_matrix(a, b, 2)
    b[0, 0] = -1
    with pytest.raises(ValueError, match=r"found -1\.\.0"):
        confusion_matrix(b, a, 2)


def test_confusion_matrix_empty_arrays() -> None:
    e = np.zeros((0,), np.int64)
    assert confusion_matrix(e, e, 3).tolist() == [[0] * 3] * 3
    assert pixel_metrics(confusion_matrix(e, e, 3))["accuracy"] == 0.0


def test_pixel_metrics_hand_computed() -> None:
    cm = np.array([[5, 1], [2, 2]])  # tn=5, fp=1, fn=2, tp=2 for class 1
    m = pixel_metrics(cm)
    assert m["accuracy"] == 0.7
    assert np.asarray(m["precision"])[1] == 2 / 3 and np.asarray(m["recall"])[1] == 0.5
    assert np.asarray(m["dice"])[1] == 4 / 7 and np.asarray(m["iou"])[1] == 2 / 5
    assert np.asarray(m["specificity"])[1] == 5 / 6
    assert [int(np.asarray(m[k])[1]) for k in ("tp", "fp", "fn", "tn")] == [2, 1, 2, 5]


# --- per case: the empty-mask policy ------------------------------------------------------------


def test_case_metrics_hand_computed() -> None:
    ref = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 0, 1]])
    m = case_metrics(confusion_matrix(ref, pred, 2))  # [[3, 1], [1, 3]]
    assert m["accuracy"] == 0.75
    assert np.asarray(m["dice"]).tolist() == [0.75, 0.75]
    assert np.asarray(m["iou"]).tolist() == [0.6, 0.6]
    assert np.asarray(m["ref_pixels"]).tolist() == [4, 4]
    assert np.asarray(m["pred_pixels"]).tolist() == [4, 4]
    assert np.asarray(m["present"]).tolist() == [True, True]


def test_case_metrics_empty_mask_policy() -> None:
    # class 1 only in the prediction, class 2 only in the reference, class 3 in neither
    ref = np.array([[0, 0, 2, 2]])
    pred = np.array([[0, 1, 0, 2]])
    m = case_metrics(confusion_matrix(ref, pred, 4))
    assert np.asarray(m["dice"]).tolist() == [0.5, 0.0, 2 / 3, 1.0]
    assert np.asarray(m["iou"]).tolist() == [1 / 3, 0.0, 0.5, 1.0]
    assert np.asarray(m["present"]).tolist() == [True, False, True, False]
    # both empty: every foreground class scores 1 for this case
    z = np.zeros((3, 3), np.int64)
    m = case_metrics(confusion_matrix(z, z, 3))
    assert np.asarray(m["dice"]).tolist() == [1.0, 1.0, 1.0]
    assert np.asarray(m["present"]).tolist() == [True, False, False]
    # reference empty, prediction not: 0
    p = z.copy()
    p[0, 0] = 1
    assert np.asarray(case_metrics(confusion_matrix(z, p, 2))["dice"])[1] == 0.0
    assert np.asarray(case_metrics(confusion_matrix(p, z, 2))["dice"])[1] == 0.0


def test_summarise_cases_excludes_absent_classes_from_dice_present() -> None:
    a = case_metrics(np.array([[2, 1], [1, 1]]))  # class 1 present, dice 2*1/(2+2) = 0.5
    b = case_metrics(np.array([[4, 0], [0, 0]]))  # class 1 absent from both: dice 1
    s = summarise_cases([a, b], ["bg", "fg"])
    assert s.dice["fg"] == Stat(mean=0.75, std=0.25, n=2)
    assert s.dice_present["fg"] == Stat(mean=0.5, std=0.0, n=1)
    assert s.foreground_dice == Stat(mean=0.75, std=0.25, n=2)
    assert s.foreground_dice_present == Stat(mean=0.5, std=0.0, n=1)
    assert s.accuracy.mean == (0.6 + 1.0) / 2
    assert s.iou["fg"].mean == (1 / 3 + 1.0) / 2
    assert s.to_dict()["dice"]["fg"] == {"mean": 0.75, "std": 0.25, "n": 2}


def test_summarise_cases_multiclass_present_only_per_case() -> None:
    # case: class 1 present (dice 0.5), class 2 absent from both (dice 1)
    cm = np.array([[2, 1, 0], [1, 1, 0], [0, 0, 0]])
    s = summarise_cases([case_metrics(cm)], ["bg", "a", "b"])
    assert s.foreground_dice is not None and s.foreground_dice.mean == 0.75
    assert s.foreground_dice_present is not None and s.foreground_dice_present.mean == 0.5
    assert s.dice_present["b"] == Stat(mean=None, std=None, n=0)


def test_predicting_nothing_is_not_rewarded() -> None:
    """Nine empty cases and one tumour case predicted empty: plain mean 0.9, present-only 0."""
    z = np.zeros((8, 8), np.int64)
    t = z.copy()
    t[2:4, 2:4] = 1
    cases = [case_metrics(confusion_matrix(z, z, 2)) for _ in range(9)]
    cases.append(case_metrics(confusion_matrix(t, z, 2)))
    s = summarise_cases(cases, ["bg", "tumour"])
    assert s.dice["tumour"].mean == 0.9
    assert s.dice_present["tumour"] == Stat(mean=0.0, std=0.0, n=1)
    assert s.foreground_dice_present is not None and s.foreground_dice_present.mean == 0.0


# --- the headline of an evaluation --------------------------------------------------------------


def _cases(rng: np.random.Generator, k: int, n: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for i in range(n):
        ref, pred = _random_case(rng, (int(rng.integers(5, 40)), int(rng.integers(5, 40))), k)
        out.append((f"c{i}", ref, pred))
    return out


@pytest.mark.parametrize("k", [2, 4, 5])
def test_pooled_headline_equals_sklearn(k: int) -> None:
    cases = _cases(np.random.default_rng(k), k, 6)
    pooled = evaluate_arrays(cases, LabelSet.from_count(k)).to_dict()["pooled"]
    ref = np.concatenate([r.ravel() for _, r, _ in cases])
    pred = np.concatenate([p.ravel() for _, _, p in cases])
    sk = _sklearn(ref, pred, k)
    assert pooled["confusion_matrix"] == sk["cm"].tolist()
    assert pooled["accuracy"] == sk["accuracy"]
    if k == 2:
        assert pooled["headline_average"] == "class 1"
        expected = (sk["precision"][1], sk["recall"][1], sk["f1"][1])
    else:
        assert pooled["headline_average"] == "macro"
        expected = sk["macro"]
    assert (pooled["precision"], pooled["recall"], pooled["f1"]) == tuple(expected)
    names = LabelSet.from_count(k).names
    for i, name in enumerate(names):
        pc = pooled["per_class"][name]
        assert pc["precision"] == sk["precision"][i] and pc["recall"] == sk["recall"][i]
        assert pc["f1"] == sk["f1"][i] and pc["dice"] == sk["f1"][i]
        assert pc["support"] == sk["support"][i]
    assert pooled["foreground_dice"] == float(np.mean(sk["f1"][1:]))
    assert pooled["background_accuracy"] == float(np.mean(ref == 0))


def test_evaluate_arrays_names_the_bad_case() -> None:
    good = np.zeros((3, 3), np.int64)
    with pytest.raises(ValueError, match="case b: .*shape"):
        evaluate_arrays([("a", good, good), ("b", good, np.zeros((3, 4), np.int64))],
                        LabelSet.from_count(2))
    with pytest.raises(ValueError, match="case c: label values must lie in 0..1"):
        evaluate_arrays([("c", good, good + 2)], LabelSet.from_count(2))
