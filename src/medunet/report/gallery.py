"""What the overlay gallery shows: the worst and best cases, volumes cut to the slices that matter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MARGIN_SLICES", "MIN_CUT_SLICES", "GalleryItem", "Loader", "UncertaintyLoader",
           "pick_gallery", "take", "view_planes"]

#: ``i -> (image or None, reference, prediction)`` of case ``i``: images ``(C, *S)``, label maps ``(*S)``
Loader = Callable[[int], tuple[np.ndarray | None, np.ndarray, np.ndarray]]
#: ``i -> uncertainty map (*S) in [0, 1] of case i, or None`` where it has none
UncertaintyLoader = Callable[[int], np.ndarray | None]
VIEWS = ("axial", "coronal", "sagittal")
#: slices kept on each side of a volume's foreground
MARGIN_SLICES = 2
#: a volume is cut to at least this many slices around its foreground (context for the
#: coronal and sagittal planes), where it has them
MIN_CUT_SLICES = 32


@dataclass(frozen=True)
class GalleryItem:
    """One case of the overlay gallery.

    Attributes
    ----------
    case_id : str
        Shown in the panel title; links the panel to the case's row of the per-case table.
    image : np.ndarray or None
        (C, *S) or (*S) intensities; C == 3 is shown as RGB, otherwise the first channel.
    ref : np.ndarray
        (H, W) or (Z, Y, X) integer reference labels, 0 = background.
    pred : np.ndarray
        Integer predicted labels, the shape of ``ref``.
    dice : float
        The case's foreground Dice, shown in the title.
    z_offset : int, optional
        Index in the original volume of the first slice held (volumes are cut to the slices
        with foreground, see :func:`pick_gallery`); slice numbers are shown in the original's.
    uncertainty : np.ndarray or None, optional
        Per-voxel uncertainty in [0, 1], the shape of ``ref``; shown as one more panel.
    """

    case_id: str
    image: np.ndarray | None
    ref: np.ndarray
    pred: np.ndarray
    dice: float
    z_offset: int = 0
    uncertainty: np.ndarray | None = None


def _centre(ref: np.ndarray, pred: np.ndarray) -> tuple[int, ...]:
    """Centre of the reference foreground (else the prediction's, else the volume's)."""
    for m in (ref, pred):
        idx = np.argwhere(m > 0)
        if len(idx):
            return tuple(int(v) for v in np.round(idx.mean(axis=0)))
    return tuple(s // 2 for s in ref.shape)


def view_planes(ref: np.ndarray, pred: np.ndarray) -> list[tuple[str, int, int]]:
    """``(view, axis, index)`` of the axial, coronal and sagittal planes through the structure."""
    centre = _centre(ref, pred)
    return [(view, axis, centre[axis]) for axis, view in enumerate(VIEWS)]


def take(arr: np.ndarray, axis: int, index: int, *, channels: bool = False) -> np.ndarray:
    """The 2D plane ``index`` along spatial ``axis`` of a (Z, Y, X) or, with ``channels``,
    (C, Z, Y, X) array."""
    return np.take(arr, index, axis=axis + 1 if channels else axis)


def _compact(labels: np.ndarray) -> np.ndarray:
    """Label values in the smallest unsigned type that holds them (a gallery volume stays small)."""
    top = int(labels.max()) if labels.size else 0
    if labels.size and int(labels.min()) < 0:
        return np.asarray(labels)
    return np.asarray(labels, dtype=np.uint8 if top < 256 else np.uint16 if top < 65536
                      else labels.dtype)


def _cut(case_id: str, image: np.ndarray | None, ref: np.ndarray, pred: np.ndarray,
         dice: float, unc: np.ndarray | None = None) -> GalleryItem:
    """A volume cut to its foreground slices (reference or prediction) plus the margin, and to
    at least ``MIN_CUT_SLICES`` slices."""
    ref, pred = _compact(ref), _compact(pred)
    if ref.ndim != 3 or ref.shape != pred.shape:
        return GalleryItem(case_id, image, ref, pred, dice, 0, unc)  # drawing names the mismatch
    z = np.flatnonzero(((ref > 0) | (pred > 0)).any(axis=(1, 2)))
    centre = ref.shape[0] // 2
    lo, hi = (int(z[0]), int(z[-1]) + 1) if z.size else (centre, centre + 1)
    grow = max(MARGIN_SLICES, (MIN_CUT_SLICES - (hi - lo) + 1) // 2)
    lo, hi = max(0, lo - grow), min(ref.shape[0], hi + grow)
    img = None if image is None else np.array(np.asarray(image)[..., lo:hi, :, :],
                                              dtype=np.float32)
    cut_unc = None if unc is None else np.array(np.asarray(unc)[lo:hi], dtype=np.float32)
    return GalleryItem(case_id, img, ref[lo:hi].copy(), pred[lo:hi].copy(), dice, lo, cut_unc)


def pick_gallery(case_ids: Sequence[str], fg_dice: Sequence[float], loader: Loader | None,
                 size: int, uncertainty: UncertaintyLoader | None = None) -> list[GalleryItem]:
    """The ``size`` worst then the ``size`` best cases by foreground Dice.

    Volumes: ``max(1, size // 2)`` of each (each shows three planes and a slice scroller),
    cut to the slices with reference or predicted foreground plus ``MARGIN_SLICES`` on each
    side (at least ``MIN_CUT_SLICES`` where the volume has them), label maps in the smallest
    integer type (``z_offset`` records the cut). The cut keeps every lesion whole.
    ``uncertainty`` gives the uncertainty map of a shown case, where it has one.
    """
    if loader is None or size <= 0 or not case_ids:
        return []
    order = [int(i) for i in np.argsort(fg_dice, kind="stable")]
    items: list[GalleryItem] = []
    loaded = {order[0]: loader(order[0])}  # the worst case tells 2D from 3D, and is shown first
    volumetric = np.ndim(loaded[order[0]][1]) == 3
    n = max(1, size // 2) if volumetric else size
    worst = order[:n]
    picks = worst + [i for i in reversed(order) if i not in worst][:n]
    for i in picks:
        image, ref, pred = loaded.pop(i) if i in loaded else loader(i)
        unc = None if uncertainty is None else uncertainty(i)
        if unc is not None and np.shape(unc) != np.shape(ref):
            unc = None  # not this prediction's map: left out rather than drawn misaligned
        if volumetric:
            items.append(_cut(case_ids[i], image, np.asarray(ref), np.asarray(pred), fg_dice[i],
                              unc))
        else:
            items.append(GalleryItem(case_ids[i], image, ref, pred, fg_dice[i], 0, unc))
    return items
