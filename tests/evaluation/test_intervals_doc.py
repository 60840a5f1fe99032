"""Lesion-wise detection and bootstrap CIs in every evaluation: metrics.json, metrics.csv,
lesions.csv, groups (regex and dataset.json) and the unreliable flag, on hand-computed sets."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medunet.data.labels import LabelSet
from medunet.distances import DistanceSettings
from medunet.evaluation.arrays import Evaluation, evaluate_arrays
from medunet.evaluation.bootstrap import bootstrap_mean, bootstrap_pooled_dice
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.intervals import BootstrapOptions
from medunet.evaluation.lesions import LesionSettings
from medunet.evaluation.writing import write_evaluation


def _lesion_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """a: one lesion found (IoU 12/20), one missed, one false positive; b: found exactly; c: empty."""
    ref_a = np.zeros((16, 16), np.int64)
    ref_a[2:6, 2:6] = 1  # 16 px
    ref_a[10:12, 10:12] = 1  # 4 px, missed
    pred_a = np.zeros_like(ref_a)
    pred_a[2:6, 3:7] = 1  # 12 px overlap of 20
    pred_a[12:15, 1:4] = 1  # 9 px, false positive
    ref_b = np.zeros((16, 16), np.int64)
    ref_b[4:8, 4:8] = 1
    empty = np.zeros((16, 16), np.int64)
    return [("a", ref_a, pred_a), ("b", ref_b, ref_b.copy()), ("c", empty, empty.copy())]


def _rates(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {"sensitivity": tp / (tp + fn) if tp + fn else None,
            "precision": tp / (tp + fp) if tp + fp else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None}


def test_lesions_in_metrics_json_csv_and_lesions_csv(tmp_path: Path) -> None:
    labels = LabelSet((0, 1), ("bg", "tumour"))
    ev = evaluate_arrays(_lesion_cases(), labels)
    paths = write_evaluation(ev, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert list(doc)[-4:] == ["distance_conventions", "lesions", "confidence_intervals", "notes"]
    block = doc["lesions"]
    assert block["settings"] == {"connectivity": "full", "iou_threshold": 0.1, "min_size": 0.0,
                                 "size_bins": [0.0, 10.0, 100.0, 1000.0, None]}
    pooled = block["pooled"]["tumour"]  # keyed by class name, not label
    assert {k: pooled[k] for k in ("tp", "fp", "fn", "num_cases", "volume_unit")} == {
        "tp": 2, "fp": 1, "fn": 1, "num_cases": 3, "volume_unit": "voxels"}
    assert {k: pooled[k] for k in ("sensitivity", "precision", "f1")} == pytest.approx(_rates(2, 1, 1))
    assert pooled["mean_dice_detected"] == pytest.approx((0.75 + 1.0) / 2)
    assert [r["case"] for r in block["per_case"]] == ["a", "b", "c"]
    expected = [(1, 1, 1), (1, 0, 0), (0, 0, 0)]
    for row, (tp, fp, fn) in zip(block["per_case"], expected, strict=True):
        assert (row["tp"], row["fp"], row["fn"]) == ({"tumour": tp}, {"tumour": fp}, {"tumour": fn})
        assert {k: row[k]["tumour"] for k in ("sensitivity", "precision", "f1")} == _rates(tp, fp, fn)
    with paths["csv"].open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["lesion_tp_tumour"], r["lesion_fp_tumour"], r["lesion_fn_tumour"]) for r in table] == [
        ("1", "1", "1"), ("1", "0", "0"), ("0", "0", "0")]
    with paths["lesions"].open(newline="") as fh:
        lesions = list(csv.DictReader(fh))
    # one row per reference lesion and per false positive, by case
    assert [(r["case"], r["class"], r["kind"], r["lesion_id"], r["pred_id"], r["size"], r["detected"])
            for r in lesions] == [
        ("a", "tumour", "lesion", "1", "1", "16.0", "True"),
        ("a", "tumour", "lesion", "2", "", "4.0", "False"),
        ("a", "tumour", "false_positive", "", "2", "9.0", ""),
        ("b", "tumour", "lesion", "1", "1", "16.0", "True")]
    assert float(lesions[0]["iou"]) == pytest.approx(0.6) and float(lesions[0]["dice"]) == 0.75


def _many(n: int = 12) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``n`` cases: the three hand-made ones, repeated under new ids."""
    base = _lesion_cases()
    return [(f"{base[i % 3][0]}{i:02d}", base[i % 3][1], base[i % 3][2]) for i in range(n)]


def _resampled(n: int, opts: BootstrapOptions) -> np.ndarray:
    """The case indices of each resample, drawn as the documented numpy generator draws them."""
    return np.random.default_rng(opts.seed).integers(0, n, size=(opts.n_resamples, n))


def test_intervals_equal_a_direct_percentile_bootstrap() -> None:
    opts = BootstrapOptions(500, 7, "percentile", 0.9)
    cases = _many()
    ev = evaluate_arrays(cases, LabelSet.from_count(2), bootstrap=opts)
    doc = ev.document()
    assert doc.intervals is not None
    draws = _resampled(len(cases), opts)
    mats = np.array(ev.matrices)
    summed = mats[draws].sum(axis=1)  # (b, 2, 2)
    fg_dice = 2 * summed[:, 1, 1] / (summed[:, 1, :].sum(axis=1) + summed[:, :, 1].sum(axis=1))
    case_dice = np.array([r.dice["class_1"] for r in doc.per_case])
    found = np.array([d.tp for d in ev.lesions.per_case]) if ev.lesions else np.zeros(0)
    missed = np.array([d.fn for d in ev.lesions.per_case]) if ev.lesions else np.zeros(0)
    keep = np.flatnonzero(found + missed > 0)  # sensitivity: only cases with reference lesions
    lesion_draws = np.random.default_rng(opts.seed).integers(0, keep.size, (opts.n_resamples, keep.size))
    sens = found[keep][lesion_draws].sum(1) / (found + missed)[keep][lesion_draws].sum(1)
    expected = {"pooled.foreground_dice": (doc.pooled.foreground_dice, fg_dice),
                "pooled.dice.class_1": (doc.pooled.per_class["class_1"].dice, fg_dice),
                "mean_case.dice.class_1": (case_dice.mean(), case_dice[draws].mean(axis=1)),
                "lesions.class_1.sensitivity": (2 / 3, sens)}
    for key, (estimate, boot) in expected.items():
        ci = doc.intervals[key]
        low, high = np.quantile(boot, [0.05, 0.95])
        assert (ci.estimate, ci.low, ci.high) == pytest.approx((estimate, low, high), rel=1e-12), key
        assert (ci.method, ci.level, ci.unit, ci.n_resamples, ci.seed) == (
            "percentile", 0.9, "case", 500, 7)
    assert doc.intervals["lesions.class_1.sensitivity"].n_cases == 8  # a and b cases only
    for key in ("accuracy", "precision", "recall", "f1"):
        assert doc.intervals[f"pooled.{key}"].estimate == getattr(doc.pooled, key), key


def test_bca_intervals_match_the_bootstrap_building_blocks() -> None:
    cases = _many()
    doc = evaluate_arrays(cases, LabelSet.from_count(2)).document()
    assert doc.intervals is not None
    dice = bootstrap_pooled_dice([np.array(m) for m in evaluate_arrays(cases, LabelSet.from_count(2),
                                                                       distances=False).matrices])
    assert doc.intervals["pooled.dice.class_1"] == dice[1]
    hd = bootstrap_mean([r.hd95["class_1"] if r.hd95 else None for r in doc.per_case])
    assert doc.intervals["mean_case.hd95.class_1"] == hd
    assert set(doc.intervals) == {
        "pooled.accuracy", "pooled.precision", "pooled.recall", "pooled.f1",
        "pooled.foreground_dice", "pooled.dice.class_1", "mean_case.foreground_dice",
        "mean_case.dice.class_1", "mean_case.hd95.class_1", "mean_case.nsd.class_1",
        "lesions.class_1.sensitivity", "lesions.class_1.precision", "lesions.class_1.f1"}
    assert all(ci.method == "bca" for ci in doc.intervals.values())
    # the lesion rates resample only the 8 cases with lesions: fewer than 10
    assert {k for k, ci in doc.intervals.items() if not ci.reliable} == {
        "lesions.class_1.sensitivity", "lesions.class_1.precision", "lesions.class_1.f1"}
    assert doc.notes == () and "confidence_intervals" in doc.policy


def _ci(ev: Evaluation, key: str = "pooled.foreground_dice") -> tuple[float | None, float | None]:
    intervals = ev.document().intervals
    assert intervals is not None
    return intervals[key].low, intervals[key].high


def test_same_seed_same_interval_another_seed_another() -> None:
    labels = LabelSet.from_count(2)
    first = evaluate_arrays(_many(), labels, bootstrap=BootstrapOptions(300, 3, "bca", 0.95))
    again = evaluate_arrays(_many(), labels, bootstrap=BootstrapOptions(300, 3, "bca", 0.95))
    other = evaluate_arrays(_many(), labels, bootstrap=BootstrapOptions(300, 4, "bca", 0.95))
    assert first.to_dict()["confidence_intervals"] == again.to_dict()["confidence_intervals"]
    assert _ci(first) != _ci(other)


def test_groups_are_the_resampling_unit() -> None:
    labels = LabelSet.from_count(2)
    cases = _many(24)  # groups of two consecutive cases: 12 patients
    mapping = {cid: f"p{i // 2}" for i, (cid, _, _) in enumerate(cases)}
    by_case = evaluate_arrays(cases, labels)
    by_group = evaluate_arrays(cases, labels, groups=mapping)
    ci = by_group.to_dict()["confidence_intervals"]["pooled.foreground_dice"]
    assert (ci["unit"], ci["n_units"], ci["n_cases"], ci["reliable"]) == ("group", 12, 24, True)
    assert _ci(by_group) != _ci(by_case)
    # a regex on the case ids gives the same groups as the mapping
    renamed = [(f"p{i // 2}_{cid}", r, p) for i, (cid, r, p) in enumerate(cases)]
    by_regex = evaluate_arrays(renamed, labels, groups=r"^(p\d+)_")
    assert _ci(by_regex) == _ci(by_group)
    with pytest.raises(ValueError, match="does not match the group pattern"):
        evaluate_arrays(cases, labels, groups=r"^(p\d+)_")


def _write_split(root: Path, write_png: Callable, n: int = 12) -> Path:
    """``root/test/masks`` and ``root/pred`` with ``n`` cases ``c00..``; returns the masks folder."""
    for cid, ref, pred in _many(n):
        write_png(root / "test" / "masks" / f"{cid}.png", ref.astype(np.uint8))
        write_png(root / "pred" / f"{cid}.png", pred.astype(np.uint8))
    return root / "test" / "masks"


@pytest.mark.parametrize("shape", ["case_to_group", "group_to_cases"])
def test_dataset_json_groups(tmp_path: Path, write_png: Callable, shape: str) -> None:
    masks = _write_split(tmp_path / "data", write_png)
    ids = sorted(p.stem for p in masks.iterdir())
    groups = {cid: f"patient{i % 4}" for i, cid in enumerate(ids)}
    entry = groups if shape == "case_to_group" else {
        g: [c for c in ids if groups[c] == g] for g in sorted(set(groups.values()))}
    (tmp_path / "data" / "dataset.json").write_text(json.dumps({"groups": entry}))
    ev = evaluate_dirs(tmp_path / "data" / "pred", masks)
    assert ev.groups == tuple(groups[c] for c in ev.case_ids)
    assert ev.lesions is not None and ev.lesions.pooled[0].volume_unit == "voxels"  # PNG: pixels
    ci = ev.to_dict()["confidence_intervals"]["mean_case.foreground_dice"]
    assert (ci["unit"], ci["n_units"], ci["reliable"]) == ("group", 4, False)
    # --group-by wins over dataset.json
    regex = evaluate_dirs(tmp_path / "data" / "pred", masks, group_by=r"^(\w)")
    assert regex.groups == tuple(c[0] for c in regex.case_ids)


def test_dataset_json_groups_must_cover_every_case(tmp_path: Path, write_png: Callable) -> None:
    masks = _write_split(tmp_path / "data", write_png, n=3)
    (tmp_path / "data" / "dataset.json").write_text(json.dumps({"groups": {"a00": "p1"}}))
    with pytest.raises(ValueError, match=r"dataset\.json.*'b01' has no group.*--group-by"):
        evaluate_dirs(tmp_path / "data" / "pred", masks)
    (tmp_path / "data" / "dataset.json").write_text(json.dumps({"groups": {"p": "a00", "q": 3}}))
    with pytest.raises(ValueError, match="'groups' entry 'p' must be a list of case ids"):
        evaluate_dirs(tmp_path / "data" / "pred", masks)


def test_fewer_than_ten_cases_are_marked_unreliable() -> None:
    doc = evaluate_arrays(_lesion_cases(), LabelSet.from_count(2)).to_dict()
    cis = doc["confidence_intervals"]
    assert {ci["reliable"] for ci in cis.values()} == {False}
    assert cis["pooled.foreground_dice"]["n_units"] == 3
    note = cis["pooled.foreground_dice"]["note"]
    assert note.startswith("only 3 cases to resample")
    assert doc["notes"] == [f"confidence intervals: {note}"]
    ten = evaluate_arrays(_many(10), LabelSet.from_count(2)).to_dict()
    assert ten["confidence_intervals"]["pooled.foreground_dice"]["reliable"] is True
    assert "notes" not in ten


def test_bootstrap_and_lesions_switched_off() -> None:
    doc = evaluate_arrays(_lesion_cases(), LabelSet.from_count(2), lesions=None,
                          bootstrap=None).to_dict()
    assert list(doc)[-2:] == ["per_case", "distance_conventions"]
    assert "lesions" not in doc["policy"] and "confidence_intervals" not in doc["policy"]
    bare = evaluate_arrays(_lesion_cases(), LabelSet.from_count(2), distances=False,
                           lesions=None).document()
    assert bare.distance_settings is None and bare.lesions is None
    assert bare.intervals is not None and "mean_case.hd95.class_1" not in bare.intervals


def test_lesions_use_the_spacing_of_the_distances() -> None:
    ref = np.zeros((6, 8, 8), np.int64)
    ref[1:3, 1:3, 1:3] = 1  # 8 voxels of 2 x 1 x 1 mm: 16 mm^3
    ref[4, 6, 6] = 1  # 1 voxel: 2 mm^3
    settings = LesionSettings(min_size=3.0)
    ev = evaluate_arrays([("v", ref, ref.copy())], LabelSet.from_count(2),
                         spacing={"v": (2.0, 1.0, 1.0)}, lesions=settings, bootstrap=None)
    assert ev.lesions is not None
    (det,) = ev.lesions.per_case
    assert (det.volume_unit, det.tp, det.dropped_reference) == ("mm3", 1, 1)
    assert det.lesions[0].size == 16.0
    doc = ev.to_dict()
    assert doc["distance_conventions"] == {"hd95": "union", "nsd_surface": "voxel",
                                           "nsd_tolerance": 1.0}
    assert doc["lesions"]["settings"]["min_size"] == 3.0
    wide = evaluate_arrays([("v", ref, ref.copy())], LabelSet.from_count(2),
                           distance=DistanceSettings(tolerance_mm=2.5), bootstrap=None).to_dict()
    assert wide["nsd_tolerance"] == 2.5 and wide["distance_conventions"]["nsd_tolerance"] == 2.5
