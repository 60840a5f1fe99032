"""Lesions for per-lesion foreground sampling: connected components of each foreground class.

A *lesion* is a connected component of one foreground class under full connectivity (8 in 2D, 26
in 3D; :func:`scipy.ndimage.label` with ``generate_binary_structure(ndim, ndim)``). Sampling a
lesion first, then a voxel inside it, makes every lesion equally likely whatever its size, so a
5-voxel metastasis is seen as often as a 5000-voxel one.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: coordinates every lesion keeps at least (all of them when it is smaller)
MIN_LESION_COORDS = 64


def label_lesions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Number the lesions of every foreground class of ``mask`` ``(*S)`` 1..n (0: background).

    Components of different classes are different lesions even where they touch; classes are
    numbered in increasing class order.

    Returns
    -------
    labels : ndarray of int32, shape (*S)
    n : int
        Number of lesions over all classes.
    """
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labels = np.zeros(mask.shape, np.int32)
    n = 0
    for cls in np.unique(mask[mask > 0]):
        lab, k = ndimage.label(mask == cls, structure=structure)
        inside = lab > 0
        labels[inside] = lab[inside] + n
        n += int(k)
    return labels, n


def lesion_coords(mask: np.ndarray, rng: np.random.Generator, limit: int,
                  floor: int = MIN_LESION_COORDS) -> tuple[np.ndarray, np.ndarray]:
    """Foreground coordinates of ``mask`` and the lesion of each, no lesion dropped.

    The ``limit`` is shared evenly by the lesions: each keeps a random subset of
    ``max(floor, limit // n_lesions)`` of its voxels (all of them when it is smaller), so
    the total may exceed ``limit`` only when there are more than ``limit / floor`` lesions.

    Parameters
    ----------
    mask : ndarray, shape (*S)
        Class labels, 0 = background.
    rng : numpy.random.Generator
        Draws the subsets (only used for lesions larger than their share).
    limit : int
        Coordinates kept over the whole mask (about).
    floor : int
        Coordinates every lesion keeps at least.

    Returns
    -------
    coords : ndarray of int64, shape (N, ndim)
        In C order within each lesion.
    ids : ndarray of int64, shape (N,)
        The lesion (0-based, as :func:`label_lesions` numbers them, minus one) of each coordinate.
    """
    labels, n = label_lesions(mask)
    coords = np.argwhere(labels > 0)
    ids = labels[tuple(coords.T)].astype(np.int64) - 1
    if n == 0:
        return coords.astype(np.int64), ids
    share = max(floor, limit // n)
    counts = np.bincount(ids, minlength=n)
    if counts.max() <= share:
        return coords.astype(np.int64), ids
    order = np.argsort(ids, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    keep = []
    for i in range(n):
        rows = order[bounds[i]:bounds[i + 1]]
        if len(rows) > share:
            rows = np.sort(rng.choice(rows, share, replace=False))
        keep.append(rows)
    rows = np.concatenate(keep)
    return coords[rows].astype(np.int64), ids[rows]
