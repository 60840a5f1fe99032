"""The typed metrics document: hand-computed values, the metrics.json key order, immutability,
and the gallery loader passed to write_evaluation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from medunet.data.labels import LabelSet
from medunet.evaluation.arrays import Evaluation, evaluate_arrays
from medunet.evaluation.document import DISTANCE_POLICY, POLICY
from medunet.evaluation.writing import write_evaluation

# case a: class 1 half found (cm [[2, 0], [1, 1]]); case b: nothing to find, nothing found
REF_A, PRED_A = np.array([[0, 1, 1, 0]]), np.array([[0, 1, 0, 0]])
EMPTY = np.zeros((1, 4), np.int64)


def _evaluation(distances: bool = True) -> Evaluation:
    # lesions and intervals have their own hand-computed tests (test_intervals_doc.py)
    return evaluate_arrays([("a", REF_A, PRED_A), ("b", EMPTY, EMPTY.copy())],
                           LabelSet.from_count(2), distances=distances, lesions=None, bootstrap=None)


def _stat(mean: float, std: float, n: int, **extra: int) -> dict[str, float | int]:
    return {"mean": mean, "std": std, "n": n, **extra}


# pooled cm [[6, 0], [1, 1]]; per case: a has Dice 4/5 (background) and 2/3 (class 1), b scores 1.
# distances in px, case a class 1: boundaries {(0,1),(0,2)} and {(0,1)}: distances [0, 1] and [0]
EXPECTED = {
    "labels": {"0": "background", "1": "class_1"},
    "num_cases": 2,
    "policy": {**POLICY, "distances": DISTANCE_POLICY},
    "distance_unit": "px",
    "nsd_tolerance": 1.0,
    "pooled": {
        "accuracy": 7 / 8, "background_accuracy": 6 / 8, "precision": 1.0, "recall": 0.5,
        "f1": 2 / 3, "headline_average": "class 1", "foreground_dice": 2 / 3,
        "confusion_matrix": [[6, 0], [1, 1]],
        "per_class": {
            "background": {"precision": 6 / 7, "recall": 1.0, "f1": 12 / 13, "dice": 12 / 13,
                           "iou": 6 / 7, "specificity": 0.5, "support": 6},
            "class_1": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "dice": 2 / 3, "iou": 0.5,
                        "specificity": 1.0, "support": 2},
        },
    },
    "mean_case": {
        "accuracy": _stat(0.875, 0.125, 2),
        "dice": {"background": _stat(0.9, 0.1, 2), "class_1": _stat(5 / 6, 1 / 6, 2)},
        "iou": {"background": _stat(5 / 6, 1 / 6, 2), "class_1": _stat(0.75, 0.25, 2)},
        "dice_present": {"background": _stat(0.9, 0.1, 2), "class_1": _stat(2 / 3, 0.0, 1)},
        "foreground_dice": _stat(5 / 6, 1 / 6, 2),
        "foreground_dice_present": _stat(2 / 3, 0.0, 1),
        "hd95": {"class_1": _stat(0.45, 0.45, 2, undefined=0)},
        "assd": {"class_1": _stat(1 / 6, 1 / 6, 2, undefined=0)},
        "nsd": {"class_1": _stat(1.0, 0.0, 2, undefined=0)},
        "distance_empty_cases": {"class_1": {"both_empty": 1, "reference_empty": 0,
                                             "prediction_empty": 0}},
    },
    "per_case": [
        {"case": "a", "accuracy": 0.75, "dice": {"background": 0.8, "class_1": 2 / 3},
         "iou": {"background": 2 / 3, "class_1": 0.5}, "ref_pixels": {"background": 2, "class_1": 2},
         "pred_pixels": {"background": 3, "class_1": 1}, "hd95": {"class_1": 0.9},
         "assd": {"class_1": 1 / 3}, "nsd": {"class_1": 1.0}},
        {"case": "b", "accuracy": 1.0, "dice": {"background": 1.0, "class_1": 1.0},
         "iou": {"background": 1.0, "class_1": 1.0}, "ref_pixels": {"background": 4, "class_1": 0},
         "pred_pixels": {"background": 4, "class_1": 0}, "hd95": {"class_1": 0.0},
         "assd": {"class_1": 0.0}, "nsd": {"class_1": 1.0}},
    ],
    "distance_conventions": {"hd95": "union", "nsd_surface": "voxel", "nsd_tolerance": 1.0},
}


def _flat(doc: object, path: str = "") -> list[tuple[str, object]]:
    """(path, leaf) pairs in document order: equal lists mean equal keys in the same order."""
    if isinstance(doc, dict):
        return [pair for k, v in doc.items() for pair in _flat(v, f"{path}/{k}")]
    if isinstance(doc, list):
        return [pair for i, v in enumerate(doc) for pair in _flat(v, f"{path}[{i}]")]
    return [(path, doc)]


def test_metrics_json_keys_order_and_hand_computed_values() -> None:
    doc = _evaluation().to_dict()
    got, want = _flat(doc), _flat(EXPECTED)
    assert [p for p, _ in got] == [p for p, _ in want]
    for (path, value), (_, expected) in zip(got, want, strict=True):
        assert value == (expected if isinstance(expected, str) else
                         pytest.approx(expected, rel=1e-12, abs=1e-15)), path
    assert json.loads(json.dumps(doc)) == doc


def test_typed_attributes_hold_the_same_numbers() -> None:
    doc = _evaluation().document()
    assert doc.num_cases == 2 and doc.labels.names == ("background", "class_1")
    assert doc.pooled.per_class["class_1"].recall == 0.5 and doc.pooled.headline_average == "class 1"
    assert doc.pooled.confusion_matrix == ((6, 0), (1, 1))
    assert doc.mean_case is not None and doc.mean_case.foreground_dice_present is not None
    assert doc.mean_case.foreground_dice_present.mean == pytest.approx(2 / 3)
    assert doc.mean_case.boundary is not None and doc.mean_case.boundary.hd95["class_1"].n == 2
    a, b = doc.per_case
    assert (a.case, a.dice["class_1"], a.foreground_dice) == ("a", pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert a.hd95 == {"class_1": pytest.approx(0.9)} and b.nsd == {"class_1": 1.0}


def test_without_distances_or_cases() -> None:
    doc = _evaluation(distances=False).to_dict()
    assert list(doc) == ["labels", "num_cases", "policy", "pooled", "mean_case", "per_case"]
    assert "distances" not in doc["policy"] and "hd95" not in doc["mean_case"]
    assert list(doc["per_case"][0]) == ["case", "accuracy", "dice", "iou", "ref_pixels",
                                        "pred_pixels"]
    empty = evaluate_arrays([], LabelSet.from_count(3)).to_dict()
    assert empty["num_cases"] == 0 and empty["mean_case"] == {} and empty["per_case"] == []
    assert empty["pooled"]["confusion_matrix"] == [[0] * 3] * 3 and empty["distance_unit"] == "px"


def test_evaluation_is_immutable() -> None:
    ev = _evaluation()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.distance_unit = "mm"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.loader = lambda i: None  # type: ignore[attr-defined]
    assert ev.document().to_dict() == ev.to_dict()  # built again, from the same values


def test_write_evaluation_draws_the_gallery_with_the_given_loader(tmp_path: Path) -> None:
    ev = _evaluation()
    calls: list[int] = []

    def loader(i: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        calls.append(i)
        return None, [REF_A, EMPTY][i], [PRED_A, EMPTY][i]

    plain = write_evaluation(ev, tmp_path / "plain")["html"].read_text()
    shown = write_evaluation(ev, tmp_path / "gallery", loader=loader, gallery_size=1)["html"]
    assert calls == [0, 1]  # the worst case (a), then the best (b)
    # confusion matrix, Dice and HD95 distributions; plus the gallery, one strip per case shown
    assert plain.count("<img") == 3 and shown.read_text().count("<img") == 3 + len(calls)
    assert (tmp_path / "plain" / "metrics.json").read_bytes() == (
        tmp_path / "gallery" / "metrics.json").read_bytes()
