"""Lossy masks: snap the smeared values of a JPEG mask back to the few levels it was drawn with.

JPEG compresses 8x8 blocks with a lossy transform, so a binary mask saved as JPEG comes back
with values spread around 0 and 255 along every edge (many public 2D sets, e.g. Kvasir-SEG and
several skin-lesion sets, ship their masks like that). The levels are found where the mask is
flat: inside a region, every 2x2 window of the decoded mask spans at most a couple of grey
values around its level, while the smear lives on edges, where no window is flat. Each pixel is
then moved to its nearest level. Masks that are not a few flat levels (an image saved in the
mask folder, a probability map) are left as they are, for the dataset check to refuse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from medunet.io.meta import ImageMeta

#: mask suffixes whose files are lossy: their masks are snapped on reading
LOSSY_SUFFIXES = (".jpg", ".jpeg")
#: a 2x2 window whose values span at most this much is flat (JPEG keeps flat regions within it)
FLAT_SPAN = 2
#: flat values closer than this belong to one level (a level's flat windows wobble by a few values)
LEVEL_MERGE = 8
#: a pixel farther than this from every level is not edge smear around a level
FAR = 16
#: a mask with more far pixels than this share is not a smeared few-level mask
MAX_FAR_SHARE = 0.10
#: more levels than this is an image (smooth gradients are flat too), not a mask
MAX_LEVELS = 32
#: colour JPEG masks whose channels differ by at most this are grey (chroma noise)
GREY_SPREAD = 16


@dataclass(frozen=True)
class SnappedMask:
    """A smeared mask moved onto its levels.

    Attributes
    ----------
    values : ndarray, shape (H, W), uint8
        Every pixel at its nearest level.
    levels : tuple of int
        The levels found, ascending.
    changed : int
        Pixels whose value was changed.
    """

    values: np.ndarray
    levels: tuple[int, ...]
    changed: int


def is_lossy(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a lossy (JPEG) file, whose mask values may be smeared."""
    return Path(path).name.lower().endswith(LOSSY_SUFFIXES)


def mask_levels(a: np.ndarray) -> tuple[int, ...]:
    """The levels of a 2D 8-bit mask: the modes of runs of values seen in flat 2x2 windows."""
    x = a.astype(np.int16)
    windows = np.stack([x[:-1, :-1], x[1:, :-1], x[:-1, 1:], x[1:, 1:]])
    flat = x[:-1, :-1][(windows.max(axis=0) - windows.min(axis=0)) <= FLAT_SPAN]
    hist = np.bincount(a.ravel(), minlength=256)
    levels = []
    values = np.unique(flat)
    # split the flat values into runs wherever two neighbours are more than LEVEL_MERGE apart
    for run in np.split(values, np.flatnonzero(np.diff(values) > LEVEL_MERGE) + 1):
        if run.size:
            lo, hi = int(run[0]), int(run[-1])
            # the run's most common value over the whole mask: JPEG clips saturated regions to
            # exactly 0 and 255, so those win over their near neighbours
            levels.append(lo + int(np.argmax(hist[lo:hi + 1])))
    return tuple(levels)


def snap_mask(a: np.ndarray) -> SnappedMask | None:
    """Move every pixel of a smeared few-level mask to its nearest level.

    Parameters
    ----------
    a : ndarray, shape (H, W), uint8
        A decoded lossy mask.

    Returns
    -------
    SnappedMask or None
        ``None`` when ``a`` is not a smeared mask of 2 to :data:`MAX_LEVELS` flat levels (not
        8-bit 2D, a single level, or more than :data:`MAX_FAR_SHARE` of its pixels farther than
        :data:`FAR` from every level): nothing is snapped then.

    Examples
    --------
    >>> a = np.zeros((8, 40), np.uint8); a[:, 20:] = 255; a[:, 19] = 40; a[:, 20] = 230
    >>> s = snap_mask(a)
    >>> s.levels, s.changed, np.unique(s.values).tolist()
    ((0, 255), 16, [0, 255])
    """
    if a.ndim != 2 or a.dtype != np.uint8 or min(a.shape) < 2:
        return None
    levels = mask_levels(a)
    if not 2 <= len(levels) <= MAX_LEVELS:
        return None
    lv = np.asarray(levels, dtype=np.int16)
    # nearest level through the midpoints between neighbouring levels
    nearest = lv[np.searchsorted((lv[:-1] + lv[1:]) / 2, a, side="right")]
    distance = np.abs(a.astype(np.int16) - nearest)
    if float((distance > FAR).mean()) > MAX_FAR_SHARE:
        return None
    return SnappedMask(nearest.astype(np.uint8), levels, int(np.count_nonzero(distance)))


def _grey(arr: np.ndarray) -> np.ndarray:
    """A colour JPEG mask whose channels differ only by chroma noise, as one grey channel."""
    if arr.ndim != 3 or arr.dtype != np.uint8:
        return arr
    rgb = arr[..., :3].astype(np.int16)
    if int((rgb.max(axis=-1) - rgb.min(axis=-1)).max()) > GREY_SPREAD:
        return arr  # a real colour mask: the reader refuses it with its own message
    # the middle channel value: one channel shifted by an encoder does not move the levels
    return np.median(rgb, axis=-1).astype(np.uint8)


def snap_lossy_mask(arr: np.ndarray, meta: ImageMeta, *, snap_masks: bool = True
                    ) -> tuple[np.ndarray, ImageMeta]:
    """The stored values of a lossy (JPEG) mask, snapped to its levels.

    Parameters
    ----------
    arr : ndarray, shape (H, W) or (H, W, C)
        The decoded file, as :func:`medunet.io.raster.read_raster` returns it.
    meta : ImageMeta
        Its metadata; the returned copy records the changed pixels in ``snapped_pixels``.
    snap_masks : bool
        ``False`` refuses a smeared mask instead of snapping it.

    Returns
    -------
    values : ndarray
        Snapped ``(H, W)`` values; ``arr`` itself (grey when its channels agree) when it is not a
        smeared few-level mask or is already on its levels.
    meta : ImageMeta

    Raises
    ------
    ValueError
        ``snap_masks`` is ``False`` and the mask is smeared; the message names both fixes.
    """
    grey = _grey(arr)
    snapped = snap_mask(grey)
    if snapped is None or snapped.changed == 0:
        return grey, meta
    if not snap_masks:
        raise ValueError(
            f"{meta.path}: JPEG mask has smeared values ({snapped.changed} pixels off its levels "
            f"{', '.join(map(str, snapped.levels))}: lossy compression); medunet snaps them to the "
            "nearest level unless snapping is off (--no-snap-masks, snap_masks=False): turn it "
            "back on, or save the masks losslessly as PNG")
    return snapped.values, replace(meta, snapped_pixels=snapped.changed)


def describe_snapped(snapped: Mapping[Path, int], limit: int = 10) -> str:
    """``"2 JPEG masks snapped to their nearest level (pixels changed): a.jpg 120, b.jpg 7"``."""
    items = sorted(snapped.items(), key=lambda kv: (-kv[1], str(kv[0])))
    shown = ", ".join(f"{p.name} {n}" for p, n in items[:limit])
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return f"{len(items)} JPEG mask(s) snapped to their nearest level (pixels changed): {shown}{more}"
