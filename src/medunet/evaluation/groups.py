"""Which cases belong together (scans of one patient): the resampling unit of the bootstrap.

A grouping comes, in this order of precedence, from

1. a regular expression on the case ids (``--group-by '^(brain\\d+)_'``: the first capturing
   group names the group, see :func:`~medunet.evaluation.resampling.groups_from_pattern`), or an
   explicit ``{case id: group}`` mapping;
2. a ``"groups"`` entry in the ``dataset.json`` of the dataset the reference masks lie in
   (``DATA/dataset.json`` for ``DATA/test/masks``), in either of two shapes::

       "groups": {"brain01_s1": "brain01", "brain01_s2": "brain01", "brain02_s1": "brain02"}
       "groups": {"brain01": ["brain01_s1", "brain01_s2"], "brain02": ["brain02_s1"]}

   (case id -> group, or group -> list of case ids). Case ids are the evaluation's: the file
   stems of the reference masks, without a ``_mask``/``_seg`` ending. Every evaluated case must
   have a group;
3. otherwise every case is its own unit.

The ``dataset.json`` parsing is shared with training (:mod:`medunet.data.groups`, which also
has the slice-name rule that training, unlike the bootstrap, falls back to).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from medunet.data.groups import dataset_groups, find_dataset_json
from medunet.evaluation.resampling import case_groups

__all__ = ["GroupSpec", "dataset_groups", "find_dataset_json", "resolve_groups"]

#: a regex on the case ids (first capturing group = group) or a ``{case id: group}`` mapping
GroupSpec = str | re.Pattern[str] | Mapping[str, str]


def resolve_groups(case_ids: Sequence[str], by: GroupSpec | None = None,
                   ref_dir: str | os.PathLike[str] | None = None) -> tuple[str, ...] | None:
    """The group of each case: from ``by`` when given, else from the ``dataset.json`` of the
    dataset ``ref_dir`` lies in, else ``None`` (every case is its own unit).

    Raises
    ------
    ValueError
        ``by`` does not match a case id, or ``dataset.json`` gives no group to a case (the
        message names the case and the file, and how to fix it).
    """
    if by is not None:
        return tuple(case_groups(case_ids, by))
    found = find_dataset_json(ref_dir) if ref_dir is not None else None
    mapping = dataset_groups(found) if found is not None else None
    if mapping is None:
        return None
    try:
        return tuple(case_groups(case_ids, mapping))
    except ValueError as exc:
        raise ValueError(f"{found}: {exc} (or give --group-by REGEX, which takes precedence)"
                         ) from exc
