"""What the overlay gallery shows: the worst and best cases, volumes as three slices."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GalleryItem", "Loader", "pick_gallery", "volume_views"]

#: ``i -> (image or None, reference, prediction)`` of case ``i``: images ``(C, *S)``, label maps ``(*S)``
Loader = Callable[[int], tuple[np.ndarray | None, np.ndarray, np.ndarray]]
VIEWS = ("axial", "coronal", "sagittal")


@dataclass(frozen=True)
class GalleryItem:
    """One case of the overlay gallery.

    Attributes
    ----------
    case_id : str
        Shown in the panel title.
    image : np.ndarray or None
        (C, H, W) or (H, W) intensities; C == 3 is shown as RGB, otherwise the first channel.
    ref : np.ndarray
        (H, W) integer reference labels, 0 = background.
    pred : np.ndarray
        (H, W) integer predicted labels.
    dice : float
        The case's foreground Dice, shown in the title.
    """

    case_id: str
    image: np.ndarray | None
    ref: np.ndarray
    pred: np.ndarray
    dice: float


def _centre(ref: np.ndarray, pred: np.ndarray) -> tuple[int, ...]:
    """Centre of the reference foreground (else the prediction's, else the volume's)."""
    for m in (ref, pred):
        idx = np.argwhere(m > 0)
        if len(idx):
            return tuple(int(v) for v in np.round(idx.mean(axis=0)))
    return tuple(s // 2 for s in ref.shape)


def volume_views(case_id: str, image: np.ndarray | None, ref: np.ndarray, pred: np.ndarray,
                 dice: float) -> list[GalleryItem]:
    """Axial, coronal and sagittal slices of a ``(Z, Y, X)`` case through its structure."""
    centre = _centre(ref, pred)
    items = []
    for axis, view in enumerate(VIEWS):
        sl = [slice(None)] * 3
        sl[axis] = slice(centre[axis], centre[axis] + 1)
        img = None if image is None else np.squeeze(image[(slice(None), *sl)], axis=axis + 1)
        items.append(GalleryItem(f"{case_id} ({view} {centre[axis]})", img,
                                 np.squeeze(ref[tuple(sl)], axis=axis),
                                 np.squeeze(pred[tuple(sl)], axis=axis), dice))
    return items


def pick_gallery(case_ids: Sequence[str], fg_dice: Sequence[float], loader: Loader | None,
                 size: int) -> list[GalleryItem]:
    """The ``size`` worst then the ``size`` best cases by foreground Dice (volumes: fewer, 3 views each)."""
    if loader is None or size <= 0 or not case_ids:
        return []
    order = [int(i) for i in np.argsort(fg_dice, kind="stable")]
    items: list[GalleryItem] = []
    first = loader(order[0])
    volumetric = first[1].ndim == 3
    n = max(1, size // 2) if volumetric else size
    worst = order[:n]
    picks = worst + [i for i in reversed(order) if i not in worst][:n]
    for i in picks:
        image, ref, pred = first if i == order[0] else loader(i)
        if volumetric:
            items.extend(volume_views(case_ids[i], image, ref, pred, fg_dice[i]))
        else:
            items.append(GalleryItem(case_ids[i], image, ref, pred, fg_dice[i]))
    return items
