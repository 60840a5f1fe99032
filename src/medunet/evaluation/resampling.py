"""Resampling units for the bootstrap: cases, or groups of cases (patients).

A grouping maps each case to a group label, e.g. with :func:`groups_from_pattern` from the
case ids (``--group-by '^(brain\\d+)_'``) or from an explicit mapping. Resamples are given as
case multiplicities ``(b, n_cases)``: a drawn group adds 1 to every one of its cases.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["ResamplingUnits", "case_groups", "groups_from_pattern", "jackknife_weights",
           "replicate_weights", "resampling_units"]

Unit = Literal["case", "group"]

_BLOCK_ELEMENTS = 1 << 22  # weights per block: bounds memory on large datasets
_HINT = r"e.g. --group-by '^(brain\d+)_' groups 'brain01_slice3' under 'brain01'"


@dataclass(frozen=True)
class ResamplingUnits:
    """The resampling unit (index ``0..count-1``) of each case."""

    of_case: np.ndarray  # (n_cases,) int
    count: int
    kind: Unit


def resampling_units(n_cases: int, groups: Sequence[Hashable] | None) -> ResamplingUnits:
    """One unit per case (``groups=None``), or one per distinct group label, first-seen order.

    Raises
    ------
    ValueError
        ``groups`` does not hold one label per case.
    """
    if groups is None:
        return ResamplingUnits(np.arange(n_cases), n_cases, "case")
    if len(groups) != n_cases:
        raise ValueError(f"got {len(groups)} group labels for {n_cases} cases; give one per case")
    index: dict[Hashable, int] = {}
    codes = np.array([index.setdefault(g, len(index)) for g in groups], dtype=np.int64)
    return ResamplingUnits(codes.reshape(n_cases), len(index), "group")


def _block(units: ResamplingUnits) -> int:
    """Resamples per block so that one block holds about ``_BLOCK_ELEMENTS`` weights."""
    return max(1, _BLOCK_ELEMENTS // max(units.count, units.of_case.size, 1))


def replicate_weights(units: ResamplingUnits, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Case multiplicities ``(b, n_cases)`` of bootstrap resamples, one block at a time.

    Each resample draws ``units.count`` units uniformly *with replacement* from a
    ``numpy.random.default_rng(seed)``; a case's weight is the number of times its unit was
    drawn. The same seed gives the same resamples.
    """
    rng = np.random.default_rng(seed)
    g = units.count
    for start in range(0, n_resamples, _block(units)):
        b = min(_block(units), n_resamples - start)
        draws = rng.integers(0, g, size=(b, g))
        counts = np.bincount((draws + g * np.arange(b)[:, None]).ravel(), minlength=b * g)
        yield counts.reshape(b, g)[:, units.of_case]


def jackknife_weights(units: ResamplingUnits) -> Iterator[np.ndarray]:
    """Case weights ``(b, n_cases)`` of the leave-one-unit-out samples (unit order), in blocks."""
    for start in range(0, units.count, _block(units)):
        left_out = np.arange(start, min(start + _block(units), units.count))
        yield (units.of_case[None, :] != left_out[:, None]).astype(np.int64)


def groups_from_pattern(case_ids: Sequence[str], pattern: str | re.Pattern[str]) -> list[str]:
    """The group of each case id: the pattern's first capturing group (``re.search``).

    Parameters
    ----------
    case_ids : sequence of str
    pattern : str or compiled regex
        Searched in each case id. With a capturing group, the group is its first group's
        text; without, the whole match.

    Returns
    -------
    list of str
        One group label per case id, in order.

    Raises
    ------
    ValueError
        The pattern is not a valid regex, or does not match a case id (the message names the
        case id and the pattern).

    Examples
    --------
    >>> groups_from_pattern(["brain01_s1", "brain01_s2", "brain02_s1"], r"^(brain\\d+)_")
    ['brain01', 'brain01', 'brain02']
    """
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"group pattern '{pattern}' is not a valid regex ({err}); "
                         f"{_HINT}") from None
    groups: list[str] = []
    for cid in case_ids:
        match = regex.search(cid)
        label = None if match is None else match.group(1) if regex.groups else match.group(0)
        if not label:
            raise ValueError(f"case id {cid!r} does not match the group pattern "
                             f"'{regex.pattern}' (or its first group is empty); the pattern "
                             f"must match every case id, {_HINT}")
        groups.append(label)
    return groups


def case_groups(case_ids: Sequence[str],
                by: str | re.Pattern[str] | Mapping[str, str]) -> list[str]:
    """The group of each case id from a pattern (:func:`groups_from_pattern`) or a mapping.

    Raises
    ------
    ValueError
        A case id the pattern does not match, or that the mapping lacks (named).
    """
    if isinstance(by, (str, re.Pattern)):
        return groups_from_pattern(case_ids, by)
    missing = [cid for cid in case_ids if cid not in by]
    if missing:
        raise ValueError(f"case id {missing[0]!r} has no group in the mapping "
                         f"({len(missing)} of {len(case_ids)} case ids missing); give every "
                         "case a group")
    return [str(by[cid]) for cid in case_ids]
