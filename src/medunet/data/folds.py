"""K-fold cross-validation splits that keep whole groups (patients, volumes) in one fold.

Torch-free. :func:`assign_folds` works on case ids, :func:`fold_splits` on the cases
themselves; both are seeded and deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from medunet.data.cases import Case
from medunet.data.check import DatasetSummary

log = logging.getLogger(__name__)

__all__ = ["assign_folds", "cross_validation_pool", "fold_splits"]


def _groups_in_order(case_ids: Sequence[str], groups: Mapping[str, str] | None) -> dict[str, list[str]]:
    """``{group: [case ids]}`` in order of first appearance; a case the mapping lacks is its own group."""
    out: dict[str, list[str]] = {}
    for cid in case_ids:
        out.setdefault(groups.get(cid, cid) if groups is not None else cid, []).append(cid)
    return out


def assign_folds(case_ids: Sequence[str], k: int, seed: int,
                 groups: Mapping[str, str] | None = None) -> list[list[str]]:
    """Assign cases to ``k`` folds, every group whole into one fold, with balanced fold sizes.

    The groups are shuffled with ``seed``, then taken largest first (a stable sort, so equal
    sizes keep the shuffled order) and each goes to the fold with the fewest cases so far
    (ties: the fewest groups, then the lowest fold index). Folds of equal-size groups thus
    differ by at most one group.

    Parameters
    ----------
    case_ids : sequence of str
        The pool of cases (unique ids).
    k : int
        Number of folds, >= 2.
    seed : int
        Seeds the shuffle: the same ids, groups and seed give the same folds.
    groups : mapping of str to str, optional
        ``{case id: group}``; default (and for a case the mapping lacks): each case is its own group.

    Returns
    -------
    list of list of str
        Per fold, its (validation) case ids in the order of ``case_ids``.

    Raises
    ------
    ValueError
        ``k < 2``, repeated case ids, or fewer groups than folds.

    Examples
    --------
    >>> assign_folds(["a1", "a2", "b1", "c1"], 2, seed=0, groups={"a1": "a", "a2": "a"})
    [['a1', 'a2'], ['b1', 'c1']]
    """
    if k < 2:
        raise ValueError(f"--folds {k}: cross-validation needs at least 2 folds")
    if len(set(case_ids)) != len(case_ids):
        raise ValueError("fold assignment: case ids repeat; every case needs a unique id")
    by_group = _groups_in_order(case_ids, groups)
    if len(by_group) < k:
        fix = f"use --folds {len(by_group)} or fewer" if len(by_group) > 1 else "drop --folds"
        raise ValueError(f"--folds {k}: only {len(by_group)} group(s) of cases ({len(case_ids)} "
                         f"cases) to spread over {k} folds; {fix}, or group the cases differently "
                         "(data.group_by)")
    names = list(by_group)
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    shuffled.sort(key=lambda g: -len(by_group[g]))  # stable: equal sizes keep the seeded order
    sizes, counts = [0] * k, [0] * k
    fold_of: dict[str, int] = {}
    for g in shuffled:
        f = min(range(k), key=lambda i: (sizes[i], counts[i], i))
        fold_of[g] = f
        sizes[f] += len(by_group[g])
        counts[f] += 1
    folds: list[list[str]] = [[] for _ in range(k)]
    for cid in case_ids:
        folds[fold_of[groups.get(cid, cid) if groups is not None else cid]].append(cid)
    return folds


def cross_validation_pool(summary: DatasetSummary) -> list[Case]:
    """The cases cross-validation spreads over its folds: the training cases and, when the
    dataset has one, the ``val`` split (it joins the pool; the test split never does).

    Raises
    ------
    ValueError
        The dataset has no training cases.
    """
    pool = list(summary.cases.get("train") or summary.cases.get("all") or [])
    if not pool:
        raise ValueError(f"{summary.root}: no training cases (expected train/images and train/masks, "
                         "images/ and masks/, or an nnU-Net/Decathlon imagesTr/ and labelsTr/)")
    return pool + list(summary.cases.get("val") or [])


def fold_splits(pool: Sequence[Case], k: int, seed: int, groups: Mapping[str, str] | None = None
                ) -> list[tuple[list[Case], list[Case]]]:
    """Per fold, its ``(training cases, validation cases)``: fold ``i`` validates on the cases
    :func:`assign_folds` puts in fold ``i`` and trains on all the others.

    Raises
    ------
    ValueError
        As :func:`assign_folds`.
    """
    folds = assign_folds([c.case_id for c in pool], k, seed, groups)
    out = []
    for i, ids in enumerate(folds):
        held = set(ids)
        out.append(([c for c in pool if c.case_id not in held], [c for c in pool if c.case_id in held]))
        log.debug("fold %d: %d training and %d validation cases", i, len(pool) - len(held), len(held))
    return out
