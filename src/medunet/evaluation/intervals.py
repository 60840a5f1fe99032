"""Intervals from bootstrap replicates: percentile and BCa, and the result type.

Methods (Efron & Tibshirani 1993, ch. 13-14): ``"percentile"`` takes the ``(1 - level) / 2``
and ``(1 + level) / 2`` quantiles of the replicates; ``"bca"`` (bias-corrected and
accelerated) shifts those levels by ``z0``, the normal quantile of the mid-rank share of
replicates below the estimate, and by the acceleration ``a``, from the jackknife over the
resampling units (leave one case, or one whole group, out). When every replicate equals the
estimate (one unit, identical values) the interval is ``low == high == estimate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from medunet.evaluation.resampling import (
    ResamplingUnits,
    Unit,
    jackknife_weights,
    replicate_weights,
)

__all__ = ["MIN_RELIABLE_UNITS", "BootstrapOptions", "ConfidenceInterval", "Method", "intervals"]

Method = Literal["percentile", "bca"]

#: fewer resampling units than this give ``reliable=False``: the interval is too narrow
MIN_RELIABLE_UNITS = 10


@dataclass(frozen=True)
class ConfidenceInterval:
    """A bootstrap confidence interval; bounds are ``None`` when there was nothing to resample."""

    estimate: float | None
    low: float | None
    high: float | None
    level: float
    method: Method
    unit: Unit
    n_units: int
    n_cases: int
    n_resamples: int
    seed: int
    reliable: bool
    note: str

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON (keys as the field names)."""
        return asdict(self)


@dataclass(frozen=True)
class BootstrapOptions:
    """Resamples, seed, method and level of a bootstrap; validated on construction."""

    n_resamples: int
    seed: int
    method: Method
    level: float

    def __post_init__(self) -> None:
        if self.method not in ("percentile", "bca"):
            raise ValueError(f"method must be 'percentile' or 'bca', got {self.method!r}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), "
                             f"got {self.level}")
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1 (e.g. 2000), "
                             f"got {self.n_resamples}")


def _rounding(estimate: float) -> float:
    """Differences below this are floating-point rounding of equal values."""
    return 1e-12 * max(1.0, abs(estimate))


def _bca_levels(estimate: float, boot: np.ndarray, jack: np.ndarray,
                level: float) -> tuple[np.ndarray, str]:
    """Quantile levels of the BCa interval, and a note when its corrections hit a limit."""
    b = boot.size
    # replicates equal to the estimate up to rounding (e.g. a resample that draws every unit
    # once) count half, so the summation order cannot move z0
    tie = np.abs(boot - estimate) <= _rounding(estimate)
    below = (np.count_nonzero((boot < estimate) & ~tie) + 0.5 * np.count_nonzero(tie)) / b
    note = ""
    if not 0.0 < below < 1.0:
        note = "BCa bias correction at its limit (estimate outside the bootstrap replicates)"
    z0 = float(ndtri(np.clip(below, 0.5 / b, 1.0 - 0.5 / b)))
    d = jack.mean() - jack if jack.size else jack  # no jackknife (one unit): no acceleration
    ss = float(np.sum(d**2))
    accel = float(np.sum(d**3)) / (6.0 * ss**1.5) if ss > 0 else 0.0
    z = ndtri(np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0]))
    denom = 1.0 - accel * (z0 + z)
    if np.any(denom <= 0):
        return ndtr(z), "BCa acceleration out of range; percentile interval given instead"
    return ndtr(z0 + (z0 + z) / denom), note


def _result(estimate: float | None, bounds: tuple[float, float] | None, units: ResamplingUnits,
            opts: BootstrapOptions, notes: Sequence[str]) -> ConfidenceInterval:
    """Assemble the result, flagging too few units."""
    reliable = units.count >= MIN_RELIABLE_UNITS
    if not reliable and units.count:
        kinds = units.kind if units.count == 1 else f"{units.kind}s"
        notes = [f"only {units.count} {kinds} to resample: an interval from fewer than "
                 f"{MIN_RELIABLE_UNITS} is too narrow to trust", *notes]
    low, high = bounds if bounds is not None else (None, None)
    return ConfidenceInterval(estimate, low, high, opts.level, opts.method, units.kind,
                              units.count, int(units.of_case.size), opts.n_resamples, opts.seed,
                              reliable, "; ".join(notes))


def _interval(estimate: float, boot: np.ndarray, jack: np.ndarray, units: ResamplingUnits,
              opts: BootstrapOptions, notes: Sequence[str]) -> ConfidenceInterval:
    """The interval from 1-D bootstrap and jackknife replicates."""
    if np.all(np.abs(boot - estimate) <= _rounding(estimate)):
        # one unit, or identical values: every resample gives the estimate
        return _result(estimate, (estimate, estimate), units, opts, notes)
    probs = np.array([(1.0 - opts.level) / 2.0, (1.0 + opts.level) / 2.0])
    if opts.method == "bca":
        probs, note = _bca_levels(estimate, boot, jack, opts.level)
        notes = [*notes, note] if note else notes
    low, high = np.quantile(boot, probs)
    return _result(estimate, (float(low), float(high)), units, opts, notes)


def intervals(fn: Callable[[np.ndarray], np.ndarray], estimate: np.ndarray,
              units: ResamplingUnits, opts: BootstrapOptions, notes: Sequence[str] = ()
              ) -> list[ConfidenceInterval]:
    """One interval per column of a statistic of resampled cases.

    Parameters
    ----------
    fn : callable
        Case weights ``(b, n_cases)`` (multiplicities) -> statistic ``(b, m)``.
    estimate : ndarray, shape (m,)
        The statistic on the full sample.
    units, opts
        Resampling units and options.
    notes : sequence of str
        Added to every interval's ``note``.

    Raises
    ------
    ValueError
        ``fn`` is not finite on some resample.
    """
    if not units.of_case.size:
        return [_result(None, None, units, opts, [*notes, "no case to resample"])] * estimate.size
    boot = np.concatenate([fn(w) for w in replicate_weights(units, opts.n_resamples, opts.seed)])
    if opts.method == "bca" and units.count > 1:
        jack = np.concatenate([fn(w) for w in jackknife_weights(units)])
    else:
        jack = np.zeros((0, estimate.size))
    if not (np.all(np.isfinite(boot)) and np.all(np.isfinite(jack))):
        raise ValueError("the statistic is not finite on some resample; make it defined on "
                         "every resample (e.g. 0 where a denominator is 0)")
    return [_interval(float(estimate[j]), boot[:, j], jack[:, j], units, opts, notes)
            for j in range(estimate.size)]
