"""Paired comparison of two methods on the same cases: differences, bootstrap CI, Wilcoxon.

Per-case values are aligned by case id and differences are ``B - A``. A case whose value is
undefined (``None`` or NaN) on either side is left out of everything and listed in
``excluded``. The mean difference gets a bootstrap CI (:func:`bootstrap_mean`, over cases or
groups of cases). The Wilcoxon signed-rank test is ``scipy.stats.wilcoxon`` on the
differences with ``zero_method="wilcox"`` (zero differences are dropped before ranking),
``alternative="two-sided"`` and ``method="auto"``, so its p-value is exactly scipy's. When
every difference is zero (or there is none) the test is undefined: statistic and p-value
are ``None``, with a note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from medunet.evaluation.bootstrap import ConfidenceInterval, Method, bootstrap_mean, case_groups

__all__ = ["CaseDifference", "PairedComparison", "WilcoxonResult", "compare_paired",
           "compare_to_reference"]

Groups = str | re.Pattern[str] | Mapping[str, str]


@dataclass(frozen=True)
class CaseDifference:
    """The values of one case under both methods and ``difference = b - a``."""

    case_id: str
    a: float
    b: float
    difference: float


@dataclass(frozen=True)
class WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of the differences (``scipy.stats.wilcoxon``)."""

    statistic: float | None
    p_value: float | None
    n_nonzero: int
    zero_method: str
    note: str


@dataclass(frozen=True)
class PairedComparison:
    """Method B against method A on the same cases (differences are ``B - A``)."""

    method_a: str
    method_b: str
    n_cases: int
    #: means of A and B over the compared cases (``None`` when there is none)
    mean_a: float | None
    mean_b: float | None
    mean_difference: ConfidenceInterval
    wilcoxon: WilcoxonResult
    #: cases where B is better than A by more than ``tie_tolerance``
    wins: int
    ties: int
    losses: int
    tie_tolerance: float
    higher_is_better: bool
    #: in the order of A's case ids
    differences: tuple[CaseDifference, ...]
    #: case ids left out because a value is undefined on either side
    excluded: tuple[str, ...]

    @property
    def disagreements(self) -> tuple[CaseDifference, ...]:
        """The cases by decreasing ``|difference|`` (ties by case id): where A and B differ most."""
        return tuple(sorted(self.differences, key=lambda d: (-abs(d.difference), d.case_id)))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the fields, ``differences`` as rows, plus ``disagreements``
        (case ids by decreasing ``|difference|``)."""
        doc = asdict(self)
        doc["mean_difference"] = self.mean_difference.to_dict()
        doc["differences"] = [asdict(d) for d in self.differences]
        doc["excluded"] = list(self.excluded)
        doc["disagreements"] = [d.case_id for d in self.disagreements]
        return doc


def _aligned(a: Mapping[str, float | None], b: Mapping[str, float | None], name_a: str,
             name_b: str) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Case ids defined on both sides, their values, and the ids left out as undefined."""
    for x, y, nx, ny in ((a, b, name_a, name_b), (b, a, name_b, name_a)):
        missing = [cid for cid in x if cid not in y]
        if missing:
            raise ValueError(f"case {missing[0]!r} has a value for {nx!r} but not for {ny!r} "
                             f"({len(missing)} such cases); compare both methods on the same cases")
    ids = list(a)
    va = np.array([np.nan if a[c] is None else a[c] for c in ids], dtype=np.float64)
    vb = np.array([np.nan if b[c] is None else b[c] for c in ids], dtype=np.float64)
    ok = np.isfinite(va) & np.isfinite(vb)
    kept = [c for c, k in zip(ids, ok, strict=True) if k]
    return kept, va[ok], vb[ok], [c for c, k in zip(ids, ok, strict=True) if not k]


def _wilcoxon(d: np.ndarray) -> WilcoxonResult:
    """``scipy.stats.wilcoxon(d)``, two-sided, zeros dropped; undefined when all ``d == 0``."""
    nonzero = int(np.count_nonzero(d))
    if nonzero == 0:
        return WilcoxonResult(None, None, 0, "wilcox",
                              "no non-zero difference: the methods agree on every case, the "
                              "test is undefined")
    res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto")
    return WilcoxonResult(float(res.statistic), float(res.pvalue), nonzero, "wilcox", "")


def compare_paired(
    a: Mapping[str, float | None],
    b: Mapping[str, float | None],
    *,
    name_a: str = "A",
    name_b: str = "B",
    groups: Groups | None = None,
    tie_tolerance: float = 0.0,
    higher_is_better: bool = True,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> PairedComparison:
    """Compare method B with method A on the same cases.

    Parameters
    ----------
    a, b : mapping of str to float or None
        Per-case values (e.g. Dice) of methods A and B, by case id; ``None`` or NaN is
        undefined and leaves the case out (listed in ``excluded``).
    name_a, name_b : str
        Method names, for the result and error messages.
    groups : str, compiled regex or mapping of str to str, optional
        Resample groups of cases (patients) for the CI: a pattern whose first capturing
        group names the group (:func:`groups_from_pattern`) or a case id -> group mapping.
        ``None``: resample cases.
    tie_tolerance : float
        ``|B - A| <= tie_tolerance`` is a tie; 0 counts only exact equality.
    higher_is_better : bool
        Whether a larger value is better (Dice) or worse (HD95): decides wins and losses.
    n_resamples, seed, method, level
        Bootstrap of the mean difference, as in :func:`bootstrap_mean`.

    Returns
    -------
    PairedComparison

    Raises
    ------
    ValueError
        A case id present on one side only (named), a negative ``tie_tolerance``, or a
        grouping that does not cover a case.
    """
    if tie_tolerance < 0:
        raise ValueError(f"tie_tolerance must be >= 0, got {tie_tolerance}")
    ids, va, vb, excluded = _aligned(a, b, name_a, name_b)
    d = vb - va
    labels = None if groups is None else case_groups(ids, groups)
    ci = bootstrap_mean(d, groups=labels, n_resamples=n_resamples, seed=seed, method=method,
                        level=level)
    better = d if higher_is_better else -d
    return PairedComparison(
        method_a=name_a, method_b=name_b, n_cases=len(ids),
        mean_a=float(va.mean()) if ids else None, mean_b=float(vb.mean()) if ids else None,
        mean_difference=ci, wilcoxon=_wilcoxon(d),
        wins=int(np.sum(better > tie_tolerance)), ties=int(np.sum(np.abs(d) <= tie_tolerance)),
        losses=int(np.sum(better < -tie_tolerance)), tie_tolerance=float(tie_tolerance),
        higher_is_better=higher_is_better,
        differences=tuple(CaseDifference(c, float(x), float(y), float(z))
                          for c, x, y, z in zip(ids, va, vb, d, strict=True)),
        excluded=tuple(excluded),
    )


def compare_to_reference(
    methods: Mapping[str, Mapping[str, float | None]],
    *,
    groups: Groups | None = None,
    tie_tolerance: float = 0.0,
    higher_is_better: bool = True,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> list[PairedComparison]:
    """Compare every method with the first one (the reference), pair by pair.

    Parameters
    ----------
    methods : mapping of str to mapping of str to float or None
        Method name -> per-case values by case id; the first method is the reference (A)
        of every pair.
    groups, tie_tolerance, higher_is_better, n_resamples, seed, method, level
        As in :func:`compare_paired`; every pair uses the same seed.

    Returns
    -------
    list of PairedComparison
        One per non-reference method, in the order given.

    Raises
    ------
    ValueError
        Fewer than two methods, or case ids that differ between a method and the reference.
    """
    names = list(methods)
    if len(names) < 2:
        raise ValueError(f"need at least two methods to compare, got {len(names)}: {names}")
    ref = names[0]
    return [compare_paired(methods[ref], methods[other], name_a=ref, name_b=other, groups=groups,
                           tie_tolerance=tie_tolerance, higher_is_better=higher_is_better,
                           n_resamples=n_resamples, seed=seed, method=method, level=level)
            for other in names[1:]]
