"""Multi-channel cases: ``<case>_0000``, ``<case>_0001``, ... files grouped into one case.

The naming follows nnU-Net: the four-digit suffix is the channel index, numbered from 0
without gaps, and the mask is named after the case (``<case>.nii.gz``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from medunet.errors import Problem

#: a channel file's stem: ``<case>_<4-digit channel index>``
CHANNEL_STEM = re.compile(r"^(?P<case>.+)_(?P<index>\d{4})$")


def _ordered_channels(case_id: str, by_index: dict[int, Path], problems: list[Problem]
                      ) -> tuple[Path, ...] | None:
    """The channel files in order, or ``None`` (and a problem) when numbers are missing."""
    missing = sorted(set(range(max(by_index) + 1)) - set(by_index))
    if not missing:
        return tuple(by_index[i] for i in sorted(by_index))
    found = ", ".join(f"_{i:04d}" for i in sorted(by_index))
    problems.append(Problem(by_index[min(by_index)], (
        f"multi-channel case {case_id!r}: channel file(s) "
        f"{', '.join(f'{case_id}_{i:04d}' for i in missing)} missing (found {found}); "
        f"number the channels _0000.._{max(by_index):04d} without gaps")))
    return None


def group_channels(images: Mapping[str, Path], problems: list[Problem]) -> dict[str, tuple[Path, ...]]:
    """Group every ``<case>_NNNN`` stem into one multi-channel case; other stems stay alone.

    Use it for inputs without masks whose model expects several channels (prediction);
    :func:`medunet.data.cases.pair_masks` groups only files whose mask is named after the case.

    Parameters
    ----------
    images : mapping of str to Path
        File stem -> file.
    problems : list of Problem
        Gaps in the numbering, and cases with both a single image and channel files, are
        appended here (those cases are left out).

    Returns
    -------
    dict of str to tuple of Path
        Case id -> files in channel order.
    """
    out: dict[str, tuple[Path, ...]] = {}
    groups: dict[str, dict[int, Path]] = {}
    for stem, img in images.items():
        m = CHANNEL_STEM.match(stem)
        if m is None:
            out[stem] = (img,)
        else:
            groups.setdefault(m["case"], {})[int(m["index"])] = img
    for case_id, by_index in groups.items():
        files = _ordered_channels(case_id, by_index, problems)
        if files is None:
            continue
        if case_id in out:
            problems.append(Problem(files[0], f"case {case_id!r} has both a single image "
                                              f"({out[case_id][0].name}) and channel files; keep one"))
            continue
        out[case_id] = files
    return out
