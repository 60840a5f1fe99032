"""Paired comparison of two methods: alignment, Wilcoxon, win/tie/loss, disagreements."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats

from medunet.evaluation.bootstrap import bootstrap_mean
from medunet.evaluation.comparison import compare_paired, compare_to_reference


def _methods(n: int, seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """Per-case Dice of two methods on ``n`` cases; B slightly better."""
    rng = np.random.default_rng(seed)
    a = rng.beta(6, 2, n)
    b = np.clip(a + rng.normal(0.02, 0.05, n), 0, 1)
    ids = [f"case{i:03d}" for i in range(n)]
    return dict(zip(ids, a.tolist(), strict=True)), dict(zip(ids, b.tolist(), strict=True))


@pytest.mark.parametrize("n", [12, 80])  # scipy's exact and normal-approximation paths
def test_p_value_is_scipy_wilcoxon_on_the_differences(n: int) -> None:
    a, b = _methods(n)
    # zeros and tied |differences|, which change scipy's method choice
    keys = list(a)
    b[keys[0]] = a[keys[0]]
    b[keys[1]], b[keys[2]] = a[keys[1]] + 0.125, a[keys[2]] - 0.125
    res = compare_paired(a, b)
    d = np.array([b[k] - a[k] for k in keys])
    ref = scipy.stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    assert res.wilcoxon.p_value == float(ref.pvalue)
    assert res.wilcoxon.statistic == float(ref.statistic)
    assert res.wilcoxon.zero_method == "wilcox"
    assert res.wilcoxon.n_nonzero == n - 1
    assert [x.difference for x in res.differences] == d.tolist()


def test_all_zero_differences_leave_the_test_undefined() -> None:
    a = {"x": 0.5, "y": 0.7, "z": 0.9}
    res = compare_paired(a, dict(a))
    assert (res.wilcoxon.statistic, res.wilcoxon.p_value, res.wilcoxon.n_nonzero) == (None, None, 0)
    assert res.wilcoxon.note
    assert (res.wins, res.ties, res.losses) == (0, 3, 0)
    assert res.mean_difference.low == res.mean_difference.high == 0.0


def test_win_tie_loss_counts() -> None:
    a = {"c1": 0.50, "c2": 0.50, "c3": 0.50, "c4": 0.50, "c5": 0.50}
    b = {"c1": 0.60, "c2": 0.50, "c3": 0.49, "c4": 0.52, "c5": 0.30}
    assert _counts(compare_paired(a, b)) == (2, 1, 2)
    assert _counts(compare_paired(a, b, tie_tolerance=0.025)) == (1, 3, 1)
    # for a distance (lower is better) B's larger values are losses
    assert _counts(compare_paired(a, b, higher_is_better=False)) == (2, 1, 2)
    assert _counts(compare_paired(a, {**b, "c4": 0.40}, higher_is_better=False)) == (3, 1, 1)


def _counts(res) -> tuple[int, int, int]:
    return res.wins, res.ties, res.losses


def test_disagreements_rank_by_absolute_difference() -> None:
    a = {"p": 0.9, "q": 0.8, "r": 0.5, "s": 0.7, "t": 0.6}
    b = {"p": 0.9, "q": 0.5, "r": 0.9, "s": 0.6, "t": 0.7}
    res = compare_paired(a, b)
    assert [d.case_id for d in res.disagreements] == ["r", "q", "s", "t", "p"]
    assert [d.case_id for d in res.differences] == ["p", "q", "r", "s", "t"]
    top = res.disagreements[0]
    assert (top.a, top.b, top.difference) == (0.5, 0.9, 0.9 - 0.5)


def test_misaligned_case_ids_raise_naming_the_case() -> None:
    a = {"x": 0.5, "y": 0.7}
    with pytest.raises(ValueError, match="'y'"):
        compare_paired(a, {"x": 0.6}, name_a="unet", name_b="nnunet")
    with pytest.raises(ValueError, match="'w'"):
        compare_paired(a, {"x": 0.6, "y": 0.1, "w": 0.3})


def test_undefined_values_exclude_the_case_from_both_sides() -> None:
    a = {"x": 0.5, "y": None, "z": 0.9, "w": 0.4}
    b = {"x": 0.6, "y": 0.7, "z": float("nan"), "w": 0.4}
    res = compare_paired(a, b)
    assert res.excluded == ("y", "z")
    assert [d.case_id for d in res.differences] == ["x", "w"]
    assert (res.n_cases, res.mean_a, res.mean_b) == (2, 0.45, 0.5)


def test_mean_difference_is_the_paired_bootstrap() -> None:
    a, b = _methods(30, seed=4)
    res = compare_paired(a, b, seed=3, n_resamples=500, method="percentile")
    d = [b[k] - a[k] for k in a]
    assert res.mean_difference == bootstrap_mean(d, seed=3, n_resamples=500, method="percentile")
    assert res.mean_difference.estimate == pytest.approx(res.mean_b - res.mean_a, abs=1e-12)
    grouped = compare_paired(a, b, groups=r"^case0(\d)", n_resamples=500)
    assert (grouped.mean_difference.unit, grouped.mean_difference.n_units) == ("group", 3)
    assert grouped.mean_difference.n_cases == 30 and not grouped.mean_difference.reliable
    mapping = {k: str(i % 12) for i, k in enumerate(a)}
    by_map = compare_paired(a, b, groups=mapping, n_resamples=500)
    assert (by_map.mean_difference.n_units, by_map.mean_difference.reliable) == (12, True)


def test_compare_to_reference_gives_one_result_per_pair() -> None:
    a, b = _methods(15, seed=1)
    c = {k: v - 0.01 for k, v in a.items()}
    results = compare_to_reference({"ref": a, "new": b, "worse": c}, n_resamples=200)
    assert [(r.method_a, r.method_b) for r in results] == [("ref", "new"), ("ref", "worse")]
    assert results[1].wilcoxon == compare_paired(a, c).wilcoxon
    assert results[1].losses == 15
    with pytest.raises(ValueError, match="two methods"):
        compare_to_reference({"ref": a})
    with pytest.raises(ValueError, match="case"):
        compare_to_reference({"ref": a, "new": {"case000": 0.5}})


def test_to_dict_is_plain_json() -> None:
    a, b = _methods(12, seed=2)
    doc = json.loads(json.dumps(compare_paired(a, b, name_a="A1", name_b="B1",
                                               n_resamples=100).to_dict()))
    assert set(doc) == {"method_a", "method_b", "n_cases", "mean_a", "mean_b", "mean_difference",
                        "wilcoxon", "wins", "ties", "losses", "tie_tolerance",
                        "higher_is_better", "differences", "excluded", "disagreements"}
    assert (doc["method_a"], doc["method_b"], doc["n_cases"]) == ("A1", "B1", 12)
    assert set(doc["wilcoxon"]) == {"statistic", "p_value", "n_nonzero", "zero_method", "note"}
    assert set(doc["differences"][0]) == {"case_id", "a", "b", "difference"}
    assert sorted(doc["disagreements"]) == sorted(a)
    assert doc["mean_difference"]["n_resamples"] == 100


def test_negative_tie_tolerance_raises() -> None:
    with pytest.raises(ValueError, match="tie_tolerance"):
        compare_paired({"x": 0.1}, {"x": 0.2}, tie_tolerance=-0.1)
