"""Bootstrap confidence intervals over cases, or over groups of cases (patients).

Resampling units (cases, or groups via :func:`case_groups`) are drawn with replacement, as
many per resample as there are units, from ``numpy.random.default_rng(seed)``: the same seed
gives the same interval, and a drawn group brings all of its cases. Methods ``"bca"``
(default) and ``"percentile"``: see :mod:`medunet.evaluation.intervals`. Intervals from
fewer than ``MIN_RELIABLE_UNITS`` (10) units are returned with ``reliable=False`` and a note.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from medunet.evaluation.intervals import (
    MIN_RELIABLE_UNITS,
    BootstrapOptions,
    ConfidenceInterval,
    Method,
    intervals,
)
from medunet.evaluation.resampling import case_groups, groups_from_pattern, resampling_units

__all__ = [
    "MIN_RELIABLE_UNITS",
    "ConfidenceInterval",
    "Method",
    "bootstrap_mean",
    "bootstrap_pooled",
    "bootstrap_pooled_dice",
    "bootstrap_pooled_foreground_dice",
    "bootstrap_statistic",
    "case_groups",
    "groups_from_pattern",
]


def _pooled(stats: np.ndarray, formula: Callable[[np.ndarray], np.ndarray],
            groups: Sequence[Hashable] | None, opts: BootstrapOptions) -> list[ConfidenceInterval]:
    """Intervals of ``formula(summed stats (b, *shape)) -> (b, m)`` over resampled cases."""
    units = resampling_units(len(stats), groups)
    flat = stats.reshape(len(stats), int(np.prod(stats.shape[1:])))

    def fn(w: np.ndarray) -> np.ndarray:
        return np.asarray(formula((w @ flat).reshape(len(w), *stats.shape[1:]))).reshape(len(w), -1)

    return intervals(fn, fn(np.ones((1, len(stats)), dtype=np.int64))[0], units, opts)


def bootstrap_mean(
    values: Sequence[float | None] | np.ndarray,
    *,
    groups: Sequence[Hashable] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> ConfidenceInterval:
    """Bootstrap CI of the mean over cases of a per-case value (e.g. per-case Dice).

    Parameters
    ----------
    values : sequence of float or None, shape (n_cases,)
        One value per case; ``None`` or NaN (undefined, e.g. HD95 with one mask empty)
        leaves the case out, as the point estimate leaves it out.
    groups : sequence of hashable, optional
        Group (patient) of each case, aligned with ``values`` (see :func:`case_groups`):
        resample whole groups, each bringing all its cases; the statistic stays the mean
        over cases. ``None``: resample cases.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the ``numpy.random.Generator``: the same seed gives the same interval.
    method : {"bca", "percentile"}
        Bias-corrected and accelerated (jackknife over the units), or percentile.
    level : float
        Confidence level, e.g. 0.95.

    Returns
    -------
    ConfidenceInterval
        ``estimate`` is the mean of the defined values; ``low == high == estimate`` when
        they are all equal or form one unit; bounds and estimate ``None`` when none is defined.

    Examples
    --------
    >>> ci = bootstrap_mean([0.8, 0.9, 0.7, None], n_resamples=200)
    >>> round(ci.estimate, 6), ci.n_cases, ci.reliable
    (0.8, 3, False)
    """
    opts = BootstrapOptions(n_resamples, seed, method, level)
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)
    if groups is not None and len(groups) != arr.size:
        raise ValueError(f"got {len(groups)} group labels for {arr.size} values; give one per case")
    keep = np.isfinite(arr)
    v = arr[keep]
    units = resampling_units(v.size, None if groups is None else
                             [g for g, k in zip(groups, keep, strict=True) if k])
    notes = [] if keep.all() else [f"{arr.size - v.size} cases with an undefined value left out"]

    def fn(w: np.ndarray) -> np.ndarray:
        return ((w @ v) / w.sum(axis=1))[:, None]

    return intervals(fn, np.array([v.mean() if v.size else np.nan]), units, opts, notes)[0]


def bootstrap_statistic(
    statistic: Callable[[np.ndarray], float],
    n_cases: int,
    *,
    groups: Sequence[Hashable] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> ConfidenceInterval:
    """Bootstrap CI of any statistic of a multiset of cases (generic, one call per resample).

    The same resamples as :func:`bootstrap_mean` and :func:`bootstrap_pooled` for the same
    ``n_cases``, ``groups`` and ``seed``; those are vectorised, prefer them where they fit.

    Parameters
    ----------
    statistic : callable
        ``statistic(indices) -> float``: ``indices`` are case indices ``0..n_cases-1``, a
        case repeated as often as it was drawn (sorted); ``np.arange(n_cases)`` gives the
        estimate. Must be finite on every resample.
    n_cases : int
    groups, n_resamples, seed, method, level
        As in :func:`bootstrap_mean`.

    Returns
    -------
    ConfidenceInterval

    Examples
    --------
    >>> x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0])
    >>> ci = bootstrap_statistic(lambda i: float(np.median(x[i])), x.size, n_resamples=500)
    >>> ci.estimate, ci.low <= ci.estimate <= ci.high
    (3.5, True)
    """
    opts = BootstrapOptions(n_resamples, seed, method, level)
    units = resampling_units(n_cases, groups)
    cases = np.arange(n_cases)

    def fn(w: np.ndarray) -> np.ndarray:
        return np.array([[statistic(np.repeat(cases, row))] for row in w], dtype=np.float64)

    return intervals(fn, np.array([statistic(cases) if n_cases else np.nan]), units, opts)[0]


def bootstrap_pooled(
    stats: np.ndarray,
    formula: Callable[[np.ndarray], np.ndarray],
    *,
    groups: Sequence[Hashable] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> ConfidenceInterval:
    """Bootstrap CI of a pooled statistic recomputed from summed per-case sufficient statistics.

    Each resample sums the per-case ``stats`` of the drawn cases (or of all cases of the
    drawn groups) and applies ``formula`` to the sum, vectorised over resamples.

    Parameters
    ----------
    stats : ndarray, shape (n_cases, *shape)
        Per-case sufficient statistics, e.g. confusion matrices ``(n_cases, K, K)``.
    formula : callable
        Summed statistics ``(b, *shape)`` -> statistic ``(b,)``; must be finite for every
        resample (define it as 0 where a denominator is 0).
    groups, n_resamples, seed, method, level
        As in :func:`bootstrap_mean`.

    Returns
    -------
    ConfidenceInterval
        ``estimate = formula(stats.sum(axis=0))``; bounds ``None`` for no cases.

    Raises
    ------
    ValueError
        ``formula`` is not finite on some resample; bad ``method``, ``level`` or ``groups``.
    """
    opts = BootstrapOptions(n_resamples, seed, method, level)
    return _pooled(np.asarray(stats), formula, groups, opts)[0]


def _dice_per_class(m: np.ndarray) -> np.ndarray:
    """Pooled Dice per class of summed matrices ``(b, K, K)``; 0 for a class in neither mask."""
    tp = np.diagonal(m, axis1=1, axis2=2).astype(np.float64)
    denom = (m.sum(axis=2) + m.sum(axis=1)).astype(np.float64)
    return np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def _confusion_stack(matrices: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Per-case confusion matrices as one ``(n, K, K)`` int64 array; an empty list as K = 2."""
    arr = np.asarray(matrices, dtype=np.int64)
    if arr.shape == (0,):
        arr = np.zeros((0, 2, 2), dtype=np.int64)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[1] < 2:
        raise ValueError(f"expected per-case confusion matrices of shape (n_cases, K, K) with "
                         f"K >= 2, got shape {arr.shape}")
    return arr


def _pooled_confusion(matrices: Sequence[np.ndarray] | np.ndarray,
                      formula: Callable[[np.ndarray], np.ndarray],
                      groups: Sequence[Hashable] | None, n_resamples: int, seed: int,
                      method: Method, level: float) -> list[ConfidenceInterval]:
    """Intervals of ``formula`` over resampled per-case confusion matrices: the argument
    handling (matrices checked first, then the bootstrap options) of the pooled Dice CIs."""
    arr = _confusion_stack(matrices)
    return _pooled(arr, formula, groups, BootstrapOptions(n_resamples, seed, method, level))


def bootstrap_pooled_dice(
    matrices: Sequence[np.ndarray] | np.ndarray,
    *,
    groups: Sequence[Hashable] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> list[ConfidenceInterval]:
    """Bootstrap CIs of the pooled Dice of every class, from per-case confusion matrices.

    Pooled Dice of class ``c`` is ``2 TP / (2 TP + FP + FN)`` over the summed matrix (rows
    reference, columns prediction; 0 when the class is in neither), as in ``metrics.json``.

    Parameters
    ----------
    matrices : ndarray, shape (n_cases, K, K)
    groups, n_resamples, seed, method, level
        As in :func:`bootstrap_mean`; one resampling serves all classes.

    Returns
    -------
    list of ConfidenceInterval
        One per class, background first; an empty list for an empty list of matrices
        (an empty ``(0, K, K)`` array gives ``K`` intervals with ``None`` bounds).
    """
    if np.shape(matrices) == (0,):
        return []
    return _pooled_confusion(matrices, _dice_per_class, groups, n_resamples, seed, method, level)


def bootstrap_pooled_foreground_dice(
    matrices: Sequence[np.ndarray] | np.ndarray,
    *,
    groups: Sequence[Hashable] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    method: Method = "bca",
    level: float = 0.95,
) -> ConfidenceInterval:
    """Bootstrap CI of the pooled foreground Dice: the mean pooled Dice of classes ``1..K-1``.

    Parameters and Returns as :func:`bootstrap_pooled_dice`, for the single statistic.
    """
    return _pooled_confusion(matrices, lambda m: _dice_per_class(m)[:, 1:].mean(axis=1), groups,
                             n_resamples, seed, method, level)[0]
