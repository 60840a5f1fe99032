"""Bootstrap confidence intervals of an evaluation's headline metrics, keyed by dotted names.

Keys (``<class>`` runs over the foreground classes):

* ``pooled.accuracy``, ``pooled.precision``, ``pooled.recall``, ``pooled.f1`` (the headline
  average of :class:`~medunet.evaluation.document.Pooled`), ``pooled.foreground_dice`` and
  ``pooled.dice.<class>``: recomputed from the summed confusion matrices of each resample,
  all from one set of resamples;
* ``mean_case.foreground_dice``, ``mean_case.dice.<class>`` and, with distances,
  ``mean_case.hd95.<class>`` and ``mean_case.nsd.<class>``: the mean of the per-case values
  (:func:`~medunet.evaluation.bootstrap.bootstrap_mean`; an undefined HD95 leaves its case out,
  as the point estimate does);
* ``lesions.<class>.sensitivity`` / ``.precision`` / ``.f1``, where the pooled rate is defined:
  recomputed from the TP/FP/FN summed over the resampled cases. A case with nothing in a
  rate's denominator (no reference lesion, for the sensitivity) adds nothing to it, so only
  the cases that do are resampled and every resample has the rate defined.

Cases, or groups of cases (patients) when a grouping is given, are the resampling unit; the
same options (resamples, seed, method, level) serve every interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from medunet.evaluation.bootstrap import bootstrap_mean, bootstrap_pooled
from medunet.evaluation.document import CaseRow
from medunet.evaluation.intervals import BootstrapOptions, ConfidenceInterval, intervals
from medunet.evaluation.lesions import LesionEvaluation
from medunet.evaluation.resampling import resampling_units

__all__ = ["headline_intervals", "pooled_columns"]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def pooled_columns(m: np.ndarray) -> np.ndarray:
    """Summed confusion matrices ``(b, K, K)`` -> ``(b, 5 + K - 1)``: accuracy, headline
    precision, recall, F1, foreground Dice, then the Dice of each foreground class."""
    m = np.asarray(m, np.float64)
    tp = np.diagonal(m, axis1=1, axis2=2)
    ref, pred = m.sum(axis=2), m.sum(axis=1)
    precision, recall, f1 = _ratio(tp, pred), _ratio(tp, ref), _ratio(2 * tp, ref + pred)
    binary = m.shape[1] == 2

    def headline(per_class: np.ndarray) -> np.ndarray:
        return per_class[:, 1] if binary else per_class.mean(axis=1)

    accuracy = _ratio(tp.sum(axis=1), m.sum(axis=(1, 2)))
    return np.column_stack([accuracy, headline(precision), headline(recall), headline(f1),
                            f1[:, 1:].mean(axis=1), f1[:, 1:]])


def _pooled(matrices: Sequence[np.ndarray], fg: Sequence[str], opts: BootstrapOptions,
            groups: Sequence[str] | None) -> dict[str, ConfidenceInterval]:
    """The ``pooled.*`` intervals, from one set of resamples."""
    stack = np.asarray(matrices, dtype=np.int64)
    flat = stack.reshape(len(stack), -1)
    k = stack.shape[1]

    def fn(w: np.ndarray) -> np.ndarray:
        return pooled_columns((w @ flat).reshape(len(w), k, k))

    cis = intervals(fn, fn(np.ones((1, len(stack)), np.int64))[0],
                    resampling_units(len(stack), groups), opts)
    keys = ["accuracy", "precision", "recall", "f1", "foreground_dice", *(f"dice.{n}" for n in fg)]
    return {f"pooled.{key}": ci for key, ci in zip(keys, cis, strict=True)}


def _mean_case(rows: Sequence[CaseRow], fg: Sequence[str], opts: BootstrapOptions,
               groups: Sequence[str] | None) -> dict[str, ConfidenceInterval]:
    """The ``mean_case.*`` intervals: means of per-case values."""
    columns: dict[str, list[float | None]] = {"foreground_dice": [r.foreground_dice for r in rows]}
    columns.update({f"dice.{n}": [r.dice[n] for r in rows] for n in fg})
    if rows[0].hd95 is not None:
        columns.update({f"hd95.{n}": [None if r.hd95 is None else r.hd95[n] for r in rows]
                        for n in fg})
        columns.update({f"nsd.{n}": [None if r.nsd is None else r.nsd[n] for r in rows]
                        for n in fg})
    return {f"mean_case.{key}": bootstrap_mean(
        values, groups=groups, n_resamples=opts.n_resamples, seed=opts.seed,
        method=opts.method, level=opts.level) for key, values in columns.items()}


#: lesion rate -> (which of TP, FP, FN its denominator counts, the rate of summed counts)
_LESION_RATES: dict[str, tuple[tuple[int, ...], Callable[[np.ndarray], np.ndarray]]] = {
    "sensitivity": ((0, 2), lambda s: s[:, 0] / (s[:, 0] + s[:, 2])),
    "precision": ((0, 1), lambda s: s[:, 0] / (s[:, 0] + s[:, 1])),
    "f1": ((0, 1, 2), lambda s: 2 * s[:, 0] / (2 * s[:, 0] + s[:, 1] + s[:, 2])),
}


def _lesions(lesions: LesionEvaluation, case_ids: Sequence[str], names: Sequence[str],
             opts: BootstrapOptions, groups: Sequence[str] | None) -> dict[str, ConfidenceInterval]:
    """The ``lesions.<class>.*`` intervals of the rates defined on the whole set."""
    index = {cid: i for i, cid in enumerate(case_ids)}
    out: dict[str, ConfidenceInterval] = {}
    for summary in lesions.pooled:
        counts = np.zeros((len(case_ids), 3), np.int64)
        for det in lesions.per_case:
            if det.label == summary.label:
                counts[index[det.case_id]] += (det.tp, det.fp, det.fn)
        for rate, (den, formula) in _LESION_RATES.items():
            if getattr(summary, rate) is None:
                continue
            keep = counts[:, list(den)].sum(axis=1) > 0
            sub = None if groups is None else [g for g, k in zip(groups, keep, strict=True) if k]
            out[f"lesions.{names[summary.label]}.{rate}"] = bootstrap_pooled(
                counts[keep], formula, groups=sub, n_resamples=opts.n_resamples, seed=opts.seed,
                method=opts.method, level=opts.level)
    return out


def headline_intervals(
    rows: Sequence[CaseRow],
    matrices: Sequence[np.ndarray],
    names: Sequence[str],
    opts: BootstrapOptions,
    *,
    lesions: LesionEvaluation | None = None,
    groups: Sequence[str] | None = None,
) -> dict[str, ConfidenceInterval]:
    """Bootstrap CIs of the headline metrics (the keys of the module docstring).

    Parameters
    ----------
    rows : sequence of CaseRow
        The document's per-case rows, aligned with ``matrices``.
    matrices : sequence of ndarray
        Per case, the ``(K, K)`` confusion matrix.
    names : sequence of str
        Class names by label value ``0..K-1`` (background first).
    opts : BootstrapOptions
    lesions : LesionEvaluation, optional
        Adds the ``lesions.*`` intervals.
    groups : sequence of str, optional
        Group of each case (aligned with ``rows``): resample groups instead of cases.

    Returns
    -------
    dict of str to ConfidenceInterval
        Empty without cases or without a foreground class.
    """
    fg = list(names[1:])
    if not rows or not fg:
        return {}
    out = _pooled(matrices, fg, opts, groups)
    out.update(_mean_case(rows, fg, opts, groups))
    if lesions is not None:
        out.update(_lesions(lesions, [r.case for r in rows], names, opts, groups))
    return out
