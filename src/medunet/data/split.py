"""Training and validation cases from a checked dataset, holding out whole groups.

Slices of one volume (or scans of one patient) look alike: validating on a slice whose
neighbours were trained on measures how well the model fits that volume, not how well it
generalises. :func:`make_split` therefore holds out whole groups (:mod:`medunet.data.groups`)
and says when it cannot (one group, one case, or a ``val/`` split sharing groups with
training): validation is then *optimistic*, and what validation would choose (the
post-processing of :mod:`medunet.training.selection`) is not trusted.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medunet.data.cases import Case
from medunet.data.check import DatasetSummary
from medunet.data.groups import case_group_map

log = logging.getLogger(__name__)

__all__ = ["Split", "make_split", "split_cases"]


@dataclass(frozen=True)
class Split:
    """The training and validation cases, their groups and whether validation is honest.

    Attributes
    ----------
    train, val : list of Case
    groups : dict of str to str
        ``{case id: group}`` for every training and validation case.
    optimistic : bool
        Validation cases share a group with training cases (or are training cases): its
        scores are optimistic and choices made on it are not trusted.
    note : str
        One sentence on how the split was made (and, when optimistic, why it is).
    source : str
        Where the groups came from: ``"data.group_by"``, ``"dataset.json"``, ``"slice names"``.
    """

    train: list[Case]
    val: list[Case]
    groups: dict[str, str] = field(default_factory=dict)
    optimistic: bool = False
    note: str = ""
    source: str = "slice names"

    def group_list(self, cases: list[Case]) -> list[str]:
        """The distinct groups of ``cases``, first-seen order."""
        return list(dict.fromkeys(self.groups.get(c.case_id, c.case_id) for c in cases))

    def to_dict(self) -> dict[str, Any]:
        """What ``plan.json`` records about the split (plain data)."""
        return {"train_cases": [c.case_id for c in self.train],
                "val_cases": [c.case_id for c in self.val],
                "val_is_train": self.val == self.train,
                "train_groups": self.group_list(self.train), "val_groups": self.group_list(self.val),
                "group_source": self.source, "validation_optimistic": self.optimistic,
                "validation_note": self.note}


def _given_val(pool: list[Case], val: list[Case], groups: dict[str, str], source: str) -> Split:
    """A ``val/`` split, used as is; optimistic when it shares groups with training.

    By the slice-name rule an id that is not a slice's is a group of its own: a training and a
    validation case that happen to share such an id (``c00`` in both) are different cases.
    """
    def named(cases: list[Case]) -> set[str]:
        return {groups[c.case_id] for c in cases
                if source != "slice names" or groups[c.case_id] != c.case_id}

    shared = sorted(named(val) & named(pool))
    if shared:
        note = (f"validation is optimistic: the val split shares {len(shared)} group(s) with "
                f"training ({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}; groups "
                f"from {source}), so it scores slices or scans of the training volumes/patients")
        log.warning("%s", note)
        return Split(pool, val, groups, True, note, source)
    n_groups = len({groups[c.case_id] for c in val})
    return Split(pool, val, groups, False, f"validation: the val split ({len(val)} case(s) in "
                 f"{n_groups} group(s); groups from {source})", source)


def _within_group(pool: list[Case], val_fraction: float, seed: int, groups: dict[str, str],
                  source: str) -> Split:
    """One group: held-out cases of it (one case: itself), flagged optimistic."""
    group = groups[pool[0].case_id]
    if len(pool) == 1:
        note = (f"validation is optimistic: the only training case ({pool[0].case_id}) is also "
                "the validation case; add a val/ split for honest model selection")
        log.warning("%s", note)
        return Split(list(pool), list(pool), groups, True, note, source)
    order = np.random.default_rng(seed).permutation(len(pool))
    n_val = max(1, int(round(val_fraction * len(pool))))
    val_idx = set(order[:n_val].tolist())
    note = (f"validation is optimistic: all {len(pool)} training cases belong to one group "
            f"({group}, from {source}), so the {n_val} held-out cases are slices or scans of the "
            "training volume/patient; add a val/ split from another one, or set data.group_by")
    log.warning("%s", note)
    return Split([c for i, c in enumerate(pool) if i not in val_idx],
                 [c for i, c in enumerate(pool) if i in val_idx], groups, True, note, source)


def _hold_out_groups(pool: list[Case], val_fraction: float, seed: int, groups: dict[str, str],
                     source: str) -> Split:
    """Hold out ``max(1, round(val_fraction * n_groups))`` whole groups (seeded)."""
    names = list(dict.fromkeys(groups[c.case_id] for c in pool))
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = min(len(names) - 1, max(1, int(round(val_fraction * len(names)))))
    held = {names[i] for i in order[:n_val].tolist()}
    train = [c for c in pool if groups[c.case_id] not in held]
    val = [c for c in pool if groups[c.case_id] in held]
    note = (f"validation holds out {n_val} of {len(names)} groups ({len(val)} of {len(pool)} cases; "
            f"groups from {source}, seed {seed})")
    log.info("%s", note)
    return Split(train, val, groups, False, note, source)


def make_split(summary: DatasetSummary, val_fraction: float, seed: int,
               group_by: str | None = None,
               dataset_json: str | os.PathLike[str] | None = None) -> Split:
    """Training and validation cases: the ``val`` split, or whole held-out groups of ``train``.

    Parameters
    ----------
    summary : DatasetSummary
        The checked dataset. Its ``val`` split is a medunet dataset's ``val/`` folder, or fold 0
        of an nnU-Net dataset's ``splits_final.json``, and is used as is.
    val_fraction : float
        Without a ``val`` split: the share of *groups* held out, at least one
        (``max(1, round(val_fraction * n_groups))``, at most all but one).
    seed : int
        Seeds the choice of groups. With one case per group this is the split of earlier
        medunet versions (a seeded share of the cases).
    group_by : str, optional
        ``data.group_by`` (see :func:`medunet.data.groups.case_group_map`).
    dataset_json : path-like, optional
        Where a ``"groups"`` entry may be; default ``<root>/dataset.json`` when it exists.

    Returns
    -------
    Split
        With ``optimistic=True`` (and a note saying why) when all training cases form one
        group (validation then holds out cases of it; a single case validates on itself), or
        when a ``val`` split shares a group with training.

    Raises
    ------
    ValueError
        No training cases; ``data.group_by`` matches no case id or leaves one without a group.
    """
    pool = list(summary.cases.get("train") or summary.cases.get("all") or [])
    if not pool:
        raise ValueError(f"{summary.root}: no training cases (expected train/images and train/masks, "
                         "images/ and masks/, or an nnU-Net/Decathlon imagesTr/ and labelsTr/)")
    val = list(summary.cases.get("val") or [])
    if dataset_json is None and (Path(summary.root) / "dataset.json").is_file():
        dataset_json = Path(summary.root) / "dataset.json"
    groups, source = case_group_map([c.case_id for c in pool + val], group_by, dataset_json)
    if val:
        return _given_val(pool, val, groups, source)
    if len({groups[c.case_id] for c in pool}) < 2:
        return _within_group(pool, val_fraction, seed, groups, source)
    return _hold_out_groups(pool, val_fraction, seed, groups, source)


def split_cases(summary: DatasetSummary, val_fraction: float, seed: int
                ) -> tuple[list[Case], list[Case]]:
    """``(train, val)`` of :func:`make_split` (groups from ``dataset.json`` or slice names)."""
    split = make_split(summary, val_fraction, seed)
    return split.train, split.val
