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
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from medunet.evaluation.resampling import case_groups

__all__ = ["GroupSpec", "dataset_groups", "find_dataset_json", "resolve_groups"]

#: a regex on the case ids (first capturing group = group) or a ``{case id: group}`` mapping
GroupSpec = str | re.Pattern[str] | Mapping[str, str]


def find_dataset_json(ref_dir: str | os.PathLike[str]) -> Path | None:
    """The ``dataset.json`` of the dataset a reference folder lies in (the folder itself, its
    parent or grandparent, as ``DATA/test/masks`` in ``DATA``), or ``None``."""
    root = Path(ref_dir).resolve()
    for folder in (root, root.parent, root.parent.parent):
        if (folder / "dataset.json").is_file():
            return folder / "dataset.json"
    return None


def _invert(path: Path, entry: Mapping[str, object]) -> dict[str, str]:
    """``{group: [case ids]}`` -> ``{case id: group}``; a case in two groups is an error."""
    out: dict[str, str] = {}
    for group, ids in entry.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{path}: 'groups' entry {group!r} must be a list of case ids")
        for cid in ids:
            if cid in out and out[cid] != group:
                raise ValueError(f"{path}: case {cid!r} is in two groups ({out[cid]!r} and "
                                 f"{group!r}); put each case in one group")
            out[cid] = str(group)
    return out


def dataset_groups(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The ``"groups"`` entry of a ``dataset.json`` as ``{case id: group}``, or ``None``.

    Parameters
    ----------
    path : path-like
        The ``dataset.json`` file.

    Returns
    -------
    dict of str to str or None
        ``None`` when the file has no ``"groups"`` entry.

    Raises
    ------
    ValueError
        The file is not JSON, or ``"groups"`` is neither ``{case id: group}`` nor
        ``{group: [case ids]}`` (the message names the file).

    Examples
    --------
    >>> dataset_groups("DATA/dataset.json")  # {"groups": {"p1": ["a", "b"]}}  # doctest: +SKIP
    {'a': 'p1', 'b': 'p1'}
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc
    entry = data.get("groups") if isinstance(data, dict) else None
    if entry is None:
        return None
    if not isinstance(entry, dict) or not entry:
        raise ValueError(f"{p}: 'groups' must map case ids to groups, e.g. "
                         '{"brain01_s1": "brain01"}, or groups to case ids, e.g. '
                         '{"brain01": ["brain01_s1", "brain01_s2"]}')
    if all(isinstance(v, str) for v in entry.values()):
        return {str(k): v for k, v in entry.items()}
    return _invert(p, entry)


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
