"""Which cases belong together (slices of one volume, scans of one patient): torch-free.

Training holds out whole groups for validation (:mod:`medunet.data.split`); evaluation draws
whole groups in its bootstrap (:mod:`medunet.evaluation.groups`). A training case's group comes,
in this order of precedence, from

1. ``data.group_by``: a regular expression searched in each case id whose first capturing group
   (the whole match without one) names the group, e.g. ``'^(brain\\d+)_'``;
2. a ``"groups"`` entry of the dataset's ``dataset.json``, in either of two shapes::

       "groups": {"brain01_s1": "brain01", "brain01_s2": "brain01", "brain02_s1": "brain02"}
       "groups": {"brain01": ["brain01_s1", "brain01_s2"], "brain02": ["brain02_s1"]}

3. the slice-name rule: an id ending in ``_z<digits>``, ``_s<digits>`` or ``_slice<digits>``
   (also with ``-``) belongs to its prefix (``brain1_z012`` -> ``brain1``,
   ``colin27_brain_s006`` -> ``colin27_brain``); any other id is its own group
   (``dsb_tile01`` -> ``dsb_tile01``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["SLICE_NAME", "case_group_map", "dataset_groups", "find_dataset_json", "slice_group"]

#: a slice's case id: ``<volume>_z012``, ``<volume>-s7``, ``<volume>_slice045``
SLICE_NAME = re.compile(r"^(.+)[_-](?:z|s|slice)\d+$", re.IGNORECASE)


def slice_group(case_id: str) -> str:
    """The volume a slice-named case id belongs to, else the id itself.

    Examples
    --------
    >>> slice_group("brain1_z012"), slice_group("vol-slice7"), slice_group("dsb_tile01")
    ('brain1', 'vol', 'dsb_tile01')
    """
    match = SLICE_NAME.match(case_id)
    return match.group(1) if match else case_id


def find_dataset_json(ref_dir: str | os.PathLike[str]) -> Path | None:
    """The ``dataset.json`` of the dataset a folder lies in (the folder itself, its parent or
    grandparent, as ``DATA/test/masks`` in ``DATA``), or ``None``."""
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


def _pattern_groups(case_ids: Sequence[str], pattern: str) -> dict[str, str]:
    """``data.group_by``: the first capturing group (or the whole match) of each case id."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"data.group_by {pattern!r} is not a valid regular expression ({exc}); "
                         r"e.g. '^(brain\d+)_' groups 'brain01_s3' under 'brain01'") from None
    out: dict[str, str] = {}
    for cid in case_ids:
        match = regex.search(cid)
        label = None if match is None else match.group(1) if regex.groups else match.group(0)
        if not label:
            raise ValueError(f"data.group_by {pattern!r} leaves case {cid!r} without a group (no "
                             "match, or an empty first group); the pattern must match every case "
                             r"id, e.g. '^(brain\d+)_'")
        out[cid] = label
    return out


def case_group_map(case_ids: Sequence[str], group_by: str | None = None,
                   dataset_json: str | os.PathLike[str] | None = None) -> tuple[dict[str, str], str]:
    """The group of every case id and where the grouping came from (see the module docstring).

    Parameters
    ----------
    case_ids : sequence of str
    group_by : str, optional
        ``data.group_by``: a regex searched in each id (first capturing group = group).
    dataset_json : path-like, optional
        A ``dataset.json`` whose ``"groups"`` entry is used when ``group_by`` is not given
        (a file without one, or no file, falls through to the slice-name rule).

    Returns
    -------
    groups : dict of str to str
        ``{case id: group}`` for every id.
    source : str
        ``"data.group_by"``, ``"dataset.json"`` or ``"slice names"``.

    Raises
    ------
    ValueError
        ``group_by`` is not a valid regex or leaves a case without a group (the message names
        ``data.group_by``), or ``dataset.json`` is malformed or lacks a case (names the file).
    """
    if group_by is not None:
        return _pattern_groups(case_ids, group_by), "data.group_by"
    mapping = dataset_groups(dataset_json) if dataset_json is not None else None
    if mapping is not None:
        missing = [cid for cid in case_ids if cid not in mapping]
        if missing:
            raise ValueError(f"{dataset_json}: 'groups' gives no group to case {missing[0]!r} "
                             f"({len(missing)} of {len(case_ids)} cases); give every case a group, "
                             "or set data.group_by (which takes precedence)")
        return {cid: str(mapping[cid]) for cid in case_ids}, "dataset.json"
    return {cid: slice_group(cid) for cid in case_ids}, "slice names"
