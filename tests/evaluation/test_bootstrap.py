"""Bootstrap confidence intervals: coverage by simulation, determinism, units, edge cases."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import scipy.stats

from medunet.evaluation.bootstrap import (
    ConfidenceInterval,
    bootstrap_mean,
    bootstrap_pooled,
    bootstrap_pooled_dice,
    bootstrap_pooled_foreground_dice,
    bootstrap_statistic,
    case_groups,
    groups_from_pattern,
)
from medunet.metrics import pixel_metrics

TRUE_MEAN = 0.8  # Beta(8, 2)
N_DATASETS = 500
# 3 binomial standard errors of the observed coverage around the nominal 95 %: +-0.029
COVERAGE_TOL = 3 * np.sqrt(0.95 * 0.05 / N_DATASETS)


def _case_data(rng: np.random.Generator) -> tuple[np.ndarray, None]:
    """30 independent Beta(8, 2) 'Dice' values."""
    return rng.beta(8, 2, 30), None


def _clustered_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """30 patients of 4 correlated cases: patient level p ~ Beta(8, 2), cases ~ Beta around p.

    E[value] = E[p] = 0.8; intra-patient correlation is about 0.7.
    """
    p = np.repeat(rng.beta(8, 2, 30), 4)
    return rng.beta(20 * p, 20 * (1 - p)), np.repeat(np.arange(30), 4)


def _coverage(make, method: str, use_groups: bool) -> float:
    """Share of N_DATASETS simulated 95 % intervals that contain the true mean."""
    rng = np.random.default_rng(2024)
    hits = 0
    for i in range(N_DATASETS):
        values, groups = make(rng)
        # 1000 resamples: the endpoint noise it adds moves coverage far less than the tolerance
        ci = bootstrap_mean(values, groups=groups if use_groups else None, n_resamples=1000,
                            seed=i, method=method)
        hits += ci.low <= TRUE_MEAN <= ci.high
    return hits / N_DATASETS


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("make", [_case_data, _clustered_data], ids=["cases", "groups"])
def test_coverage_is_nominal_by_simulation(make, method: str) -> None:
    # the percentile bootstrap slightly under-covers at n=30 (about 0.94): inside the band
    coverage = _coverage(make, method, use_groups=True)
    assert 0.95 - COVERAGE_TOL <= coverage <= 0.95 + COVERAGE_TOL


def test_case_resampling_undercovers_clustered_cases() -> None:
    # treating correlated cases of one patient as independent gives intervals far too narrow:
    # this is what the group option is for (about 0.75 here, against 0.94 with groups)
    assert _coverage(_clustered_data, "percentile", use_groups=False) < 0.85


def test_bca_matches_scipy_on_skewed_data() -> None:
    values = np.random.default_rng(1).lognormal(0.0, 1.0, 40)
    ours = bootstrap_mean(values, n_resamples=50_000, seed=1, method="bca")
    pct = bootstrap_mean(values, n_resamples=50_000, seed=1, method="percentile")
    ref = scipy.stats.bootstrap((values,), np.mean, n_resamples=50_000, method="BCa",
                                rng=np.random.default_rng(101)).confidence_interval
    width = ref.high - ref.low
    # independent Monte-Carlo draws: agreement within 3 % of the width ...
    assert abs(ours.low - ref.low) < 0.03 * width
    assert abs(ours.high - ref.high) < 0.03 * width
    # ... while on this skewed sample the percentile interval is clearly elsewhere
    assert ref.low - pct.low > 0.04 * width and ref.high - pct.high > 0.1 * width


def test_bca_counts_replicates_at_the_estimate_as_half() -> None:
    # symmetric sample on a 0.25 grid: about 9 % of the resampled means equal the estimate.
    # Counted half below (mid-rank, as scipy does) z0 ~ 0 and a = 0, so BCa = percentile;
    # counted as not below, z0 < 0 would shift both bounds down one grid step
    values = np.repeat([0.0, 0.25, 0.5, 0.75, 1.0], 2)
    bca = bootstrap_mean(values, n_resamples=20_000, method="bca")
    pct = bootstrap_mean(values, n_resamples=20_000, method="percentile")
    assert (bca.low, bca.high) == (pct.low, pct.high)
    assert bca.low + bca.high == pytest.approx(1.0)


def test_same_seed_same_interval_other_seed_differs() -> None:
    values = np.random.default_rng(0).beta(8, 2, 25)
    first = bootstrap_mean(values, seed=7)
    assert bootstrap_mean(values, seed=7) == first
    other = bootstrap_mean(values, seed=8)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.estimate == first.estimate


def test_resampling_is_with_replacement() -> None:
    seen: list[np.ndarray] = []

    def record(idx: np.ndarray) -> float:
        seen.append(idx)
        return float(idx.mean())

    bootstrap_statistic(record, 20, n_resamples=50, method="percentile")
    resamples = seen[1:]  # the first call is the estimate on all cases
    assert len(resamples) == 50 and all(r.size == 20 for r in resamples)
    # a draw of 20 out of 20 with replacement repeats a case with probability 1 - 20!/20^20
    assert all(np.unique(r).size < 20 for r in resamples)


def test_group_resampling_draws_whole_groups() -> None:
    groups = ["a"] + ["b"] * 2 + ["c"] * 3 + ["d"] * 4 + ["e"] * 5
    seen: list[np.ndarray] = []

    def record(idx: np.ndarray) -> float:
        seen.append(idx)
        return float(idx.size)

    ci = bootstrap_statistic(record, len(groups), groups=groups, n_resamples=200, method="bca")
    assert (ci.unit, ci.n_units, ci.n_cases) == ("group", 5, 15)
    labels = np.array(groups)
    repeats = []
    for idx in seen[1:201]:
        counts = np.bincount(idx, minlength=len(groups))
        per_group = {g: set(counts[labels == g]) for g in "abcde"}
        # every case of a group is drawn as often as the group: whole patients
        assert all(len(c) == 1 for c in per_group.values())
        # five groups drawn per resample
        assert sum(next(iter(c)) for c in per_group.values()) == 5
        repeats.append(max(next(iter(c)) for c in per_group.values()))
    assert max(repeats) > 1


def test_generic_and_vectorised_forms_agree() -> None:
    rng = np.random.default_rng(3)
    values = rng.beta(5, 2, 24)
    # unequal groups: the statistic stays the mean over the cases drawn, not over group means
    groups = np.repeat(np.arange(9), [1, 2, 3, 4, 5, 1, 2, 3, 3]).tolist()
    for g in (None, groups):
        for method in ("percentile", "bca"):
            fast = bootstrap_mean(values, groups=g, method=method, n_resamples=500, seed=4)
            slow = bootstrap_statistic(lambda i: float(values[i].mean()), values.size, groups=g,
                                       method=method, n_resamples=500, seed=4)
            assert slow.estimate == pytest.approx(fast.estimate, rel=1e-12)
            assert (slow.low, slow.high) == pytest.approx((fast.low, fast.high), rel=1e-12)
            assert (slow.unit, slow.n_units) == (fast.unit, fast.n_units)


def _matrices(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-case 3-class confusion matrices; class 2 absent from reference and prediction in some."""
    cms = rng.integers(0, 50, size=(n, 3, 3))
    cms[: n // 3, 2, :] = 0
    cms[: n // 3, :, 2] = 0
    return cms


def test_pooled_dice_estimate_is_metrics_pooled_dice() -> None:
    cms = _matrices(np.random.default_rng(5), 15)
    dice = np.asarray(pixel_metrics(cms.sum(axis=0))["dice"])
    per_class = bootstrap_pooled_dice(cms, n_resamples=300)
    assert [c.estimate for c in per_class] == [float(d) for d in dice]
    fg = bootstrap_pooled_foreground_dice(cms, n_resamples=300)
    assert fg.estimate == float(dice[1:].mean())
    # a class in no reference and no prediction: pooled Dice 0, as scikit-learn's zero_division=0
    absent = cms.copy()
    absent[:, 2, :] = absent[:, :, 2] = 0
    assert bootstrap_pooled_dice(absent, n_resamples=50)[2].estimate == 0.0
    assert float(np.asarray(pixel_metrics(absent.sum(axis=0))["dice"])[2]) == 0.0
    for ci in (*per_class, fg):
        assert ci.low is not None and ci.high is not None
        assert 0.0 <= ci.low <= ci.high <= 1.0


@pytest.mark.parametrize("grouped", [False, True])
def test_pooled_dice_equals_generic_statistic(grouped: bool) -> None:
    cms = _matrices(np.random.default_rng(6), 18)
    groups = [f"p{i // 2}" for i in range(18)] if grouped else None

    def fg_dice(idx: np.ndarray) -> float:
        return float(np.asarray(pixel_metrics(cms[idx].sum(axis=0))["dice"])[1:].mean())

    fast = bootstrap_pooled_foreground_dice(cms, groups=groups, n_resamples=300, seed=2)
    slow = bootstrap_statistic(fg_dice, len(cms), groups=groups, n_resamples=300, seed=2)
    assert (slow.estimate, slow.low, slow.high) == pytest.approx(
        (fast.estimate, fast.low, fast.high), rel=1e-12)


def test_pooled_generic_formula() -> None:
    # pooled recall of class 1 from per-case (tp, fn) counts
    counts = np.array([[8, 2], [5, 5], [9, 1], [0, 4], [7, 3]])
    ci = bootstrap_pooled(counts, lambda s: s[:, 0] / s.sum(axis=1), n_resamples=300,
                          method="percentile")
    assert ci.estimate == 29 / 44
    assert ci.low < ci.estimate < ci.high


def test_fewer_than_ten_units_is_unreliable() -> None:
    nine = bootstrap_mean(np.linspace(0.5, 0.9, 9), n_resamples=200)
    assert not nine.reliable and nine.note
    ten = bootstrap_mean(np.linspace(0.5, 0.9, 10), n_resamples=200)
    assert ten.reliable and ten.note == ""
    grouped = bootstrap_mean(np.linspace(0.5, 0.9, 30), groups=[i % 5 for i in range(30)],
                             n_resamples=200)
    assert (grouped.unit, grouped.n_units, grouped.n_cases) == ("group", 5, 30)
    assert not grouped.reliable and grouped.note


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_degenerate_inputs_give_a_point(method: str) -> None:
    one = bootstrap_mean([0.42], method=method, n_resamples=200)
    assert one.low == one.high == one.estimate == 0.42
    same = bootstrap_mean([0.7] * 20, method=method, n_resamples=200)
    assert same.low == same.high == same.estimate
    assert same.estimate == pytest.approx(0.7) and same.reliable
    one_group = bootstrap_mean([0.2, 0.6, 0.9], groups=["p"] * 3, method=method, n_resamples=200)
    assert one_group.low == one_group.high == one_group.estimate == pytest.approx(17 / 30)
    cms = np.tile(np.array([[5, 1], [2, 3]]), (12, 1, 1))
    fg = bootstrap_pooled_foreground_dice(cms, method=method, n_resamples=200)
    assert fg.low == fg.high == fg.estimate == 6 / 9


def test_empty_input_gives_none_with_a_note() -> None:
    for ci in (bootstrap_mean([]), bootstrap_mean([None, float("nan")]),
               bootstrap_pooled_foreground_dice([])):
        assert (ci.estimate, ci.low, ci.high, ci.n_units) == (None, None, None, 0)
        assert not ci.reliable and ci.note
    assert bootstrap_pooled_dice([]) == []
    assert [c.low for c in bootstrap_pooled_dice(np.zeros((0, 3, 3), int))] == [None] * 3


def test_undefined_values_are_left_out_like_the_estimate() -> None:
    values = [0.9, None, 0.7, float("nan"), 0.8, 0.6, 0.95, 0.85, 0.75, 0.65, 0.5, 0.99]
    defined = [v for v in values if v is not None and v == v]
    groups = [f"g{i}" for i in range(len(values))]
    ci = bootstrap_mean(values, groups=groups, n_resamples=400, seed=3)
    ref = bootstrap_mean(defined, groups=[g for g, v in zip(groups, values, strict=True)
                                          if v is not None and v == v], n_resamples=400, seed=3)
    assert ci.estimate == float(np.mean(defined))
    assert (ci.low, ci.high, ci.n_cases) == (ref.low, ref.high, 10)
    assert ci.note  # says two cases were left out


def test_level_nests_intervals() -> None:
    values = np.random.default_rng(9).beta(4, 2, 40)
    wide = bootstrap_mean(values, level=0.95, method="percentile", n_resamples=1000)
    narrow = bootstrap_mean(values, level=0.8, method="percentile", n_resamples=1000)
    assert wide.low < narrow.low < narrow.estimate < narrow.high < wide.high
    assert (wide.level, narrow.level) == (0.95, 0.8)


def test_to_dict_is_plain_json() -> None:
    ci = bootstrap_mean(np.linspace(0, 1, 12), n_resamples=100, seed=5)
    doc = json.loads(json.dumps(ci.to_dict()))
    assert set(doc) == {"estimate", "low", "high", "level", "method", "unit", "n_units",
                        "n_cases", "n_resamples", "seed", "reliable", "note"}
    assert (doc["method"], doc["unit"], doc["n_resamples"], doc["seed"]) == ("bca", "case", 100, 5)
    assert ConfidenceInterval(**doc) == ci


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="method"):
        bootstrap_mean([0.1, 0.2], method="basic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean([0.1, 0.2], level=95)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean([0.1, 0.2], n_resamples=0)
    with pytest.raises(ValueError, match="group labels"):
        bootstrap_mean([0.1, 0.2], groups=["a"])
    with pytest.raises(ValueError, match="shape"):
        bootstrap_pooled_dice(np.zeros((3, 2, 3), int))
    with pytest.raises(ValueError, match="not finite"):
        bootstrap_pooled(np.array([[1, 0], [0, 0], [2, 1]]),
                         lambda s: np.where(s[:, 1] > 0, 1.0, np.nan))


def test_groups_from_pattern() -> None:
    ids = ["brain01_s1", "brain01_s2", "brain12_s1"]
    assert groups_from_pattern(ids, r"^(brain\d+)_") == ["brain01", "brain01", "brain12"]
    assert groups_from_pattern(ids, re.compile(r"brain\d+")) == ["brain01", "brain01", "brain12"]
    assert case_groups(ids, r"_(s\d)$") == ["s1", "s2", "s1"]
    assert case_groups(ids, dict(zip(ids, "xyx", strict=True))) == ["x", "y", "x"]


def test_group_errors_name_the_case_and_the_pattern() -> None:
    ids = ["brain01_s1", "liver3_s1"]
    with pytest.raises(ValueError, match="'liver3_s1'") as err:
        groups_from_pattern(ids, r"^(brain\d+)_")
    assert r"'^(brain\d+)_'" in str(err.value)
    with pytest.raises(ValueError, match="valid regex"):
        groups_from_pattern(ids, "(brain")
    with pytest.raises(ValueError, match="'liver3_s1'"):
        case_groups(ids, {"brain01_s1": "b1"})
