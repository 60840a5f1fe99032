"""Fold assignment for --folds K: whole groups, balanced sizes, seeded and deterministic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from medunet.data.check import check_dataset
from medunet.data.folds import assign_folds, cross_validation_pool, fold_splits
from medunet.data.labels import resolve_labels


def _patients(sizes: list[int]) -> tuple[list[str], dict[str, str]]:
    """Case ids ``p<i>_s<j>`` for patients of the given slice counts, and their groups."""
    ids = [f"p{i}_s{j}" for i, n in enumerate(sizes) for j in range(n)]
    return ids, {cid: cid.split("_")[0] for cid in ids}


def test_every_group_lies_whole_in_one_fold_and_every_case_in_exactly_one() -> None:
    ids, groups = _patients([3, 1, 2, 2, 4, 1, 1, 2])
    folds = assign_folds(ids, 3, seed=0, groups=groups)
    assert sorted(c for f in folds for c in f) == sorted(ids)
    fold_of_group: dict[str, set[int]] = {}
    for k, fold in enumerate(folds):
        for cid in fold:
            fold_of_group.setdefault(groups[cid], set()).add(k)
    assert all(len(ks) == 1 for ks in fold_of_group.values()), fold_of_group


def test_fold_sizes_are_balanced() -> None:
    # 16 cases in groups of 4, 3, 3, 2, 2, 1, 1: the best 3-way split has sizes 6, 5, 5
    ids, groups = _patients([4, 3, 3, 2, 2, 1, 1])
    assert sorted(len(f) for f in assign_folds(ids, 3, seed=5, groups=groups)) == [5, 5, 6]
    # one case per group: sizes differ by at most one, for every seed
    for seed in range(5):
        sizes = [len(f) for f in assign_folds([f"c{i}" for i in range(11)], 4, seed=seed)]
        assert sorted(sizes) == [2, 3, 3, 3]


def test_same_seed_same_folds_other_seed_other_folds() -> None:
    ids = [f"c{i:02d}" for i in range(20)]
    first = assign_folds(ids, 5, seed=3)
    assert assign_folds(list(ids), 5, seed=3) == first
    assert assign_folds(ids, 5, seed=4) != first
    # each fold keeps the order of the input
    assert all(f == sorted(f) for f in first)


def test_fewer_groups_than_folds_is_one_line_naming_folds_and_the_count() -> None:
    ids, groups = _patients([5, 5])
    with pytest.raises(ValueError) as err:
        assign_folds(ids, 3, seed=0, groups=groups)
    message = str(err.value)
    assert "\n" not in message and message.startswith("--folds 3:") and "only 2 group(s)" in message
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(ids, 1, seed=0)


def test_fold_splits_train_on_the_other_folds(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    data = make_dataset(tmp_path / "data", n=3, size=(16, 16))
    summary = check_dataset(data, resolve_labels(data, None, None))
    pool = cross_validation_pool(summary)
    # the val split joins the pool; the test split never does
    assert [c.case_id for c in pool] == ["train_00", "train_01", "train_02", "val_00", "val_01", "val_02"]
    splits = fold_splits(pool, 3, seed=0)
    held = [[c.case_id for c in val] for _, val in splits]
    assert held == assign_folds([c.case_id for c in pool], 3, seed=0)
    for train, val in splits:
        assert {c.case_id for c in train} == {c.case_id for c in pool} - {c.case_id for c in val}
