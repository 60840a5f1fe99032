"""Surface elements ("surfels"): the boundary as small contour pieces (2D) or triangles (3D),
each weighted by its length or area, as DeepMind's surface-distance and MONAI
(``use_subvoxels=True``) measure the normalised surface Dice.

Definitions
-----------
Corners
    The boundary lives on the lattice of voxel **corners**, half a voxel off the voxel centres:
    corner ``i`` (per axis) is shared by voxels ``i - 1`` and ``i``. Each corner sees the
    ``2 x 2`` (``2 x 2 x 2``) block of voxels around it (voxels outside the image count as
    outside) and gets the code of which of them are inside. A corner is a surface corner when
    its block is mixed (some voxels inside, some outside).
Surfel measure
    The isocontour at 0.5 through the block, with its vertices at the midpoints of the block's
    mixed edges (marching squares in 2D, the classic marching cubes of Lorensen and Cline in
    3D, in physical units): in 2D the total length of its segments (a half diagonal per cut
    corner, a full side for a straight cut); in 3D the total area of its triangles. A 3D block
    with more than four voxels inside takes the triangles of its complement, so a block and its
    complement always have the same area.
Distances
    From every surface corner of one mask to the nearest surface corner of the other, in mm
    (Euclidean distance transform on the corner lattice, ``sampling=spacing``). Corners lie on
    a lattice with the voxels' spacing, so these distances match those between voxel centres
    in kind, but are measured between other points than :mod:`medunet.surfaces`' boundary voxels.

Speed
-----
Both masks are cropped to the bounding box of their union and padded with one voxel of
background on every side: every surface corner lies inside, so the crop is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import product

import numpy as np
from numpy.typing import ArrayLike

from medunet.surfaces import _bounding_box, _distances_to, _validate

__all__ = ["SurfelDistances", "surfel_distances", "surfel_measure_table"]

#: (distances ref->pred, distances pred->ref, measure of each ref surfel, of each pred surfel)
SurfelDistances = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _corner_codes(mask: np.ndarray) -> np.ndarray:
    """Per corner of a zero-padded mask, the code ``sum(2**j)`` over the voxels ``j`` of its
    block that are inside (``j`` = block offset read as binary digits, first axis highest)."""
    n = mask.ndim
    codes = np.zeros(tuple(s - 1 for s in mask.shape), dtype=np.uint8)
    for bit, offset in enumerate(product((0, 1), repeat=n)):
        window = tuple(slice(o, o + s - 1) for o, s in zip(offset, mask.shape, strict=True))
        codes |= mask[window].astype(np.uint8) << np.uint8(2 ** n - 1 - bit)
    return codes


def _block(code: int, ndim: int) -> np.ndarray:
    """The ``2 x ... x 2`` block of voxels (1 = inside) of a corner code."""
    bits = [(code >> (2 ** ndim - 1 - b)) & 1 for b in range(2 ** ndim)]
    return np.asarray(bits, dtype=np.float64).reshape((2,) * ndim)


def _contour_length(code: int, spacing: Sequence[float]) -> float:
    """Length of the marching-squares contour of a 2D block with vertices at edge midpoints."""
    block = _block(code, 2)
    inside = int(block.sum())
    if inside in (0, 4):
        return 0.0
    half_diagonal = 0.5 * math.hypot(spacing[0], spacing[1])
    if inside == 2 and block[0, 0] == block[1, 1]:  # saddle: two cut corners
        return 2 * half_diagonal
    if inside == 2:  # a straight cut between two sides: along axis 1 or axis 0
        return float(spacing[1] if block[0, 0] == block[0, 1] else spacing[0])
    return half_diagonal  # one corner cut off (one voxel in, or one out)


@lru_cache(maxsize=1)
def _triangle_normals() -> np.ndarray:
    """``(256, T, 3)``: per 3D code, its triangles' normal vectors (length = area) at unit
    spacing, zero-padded; from scikit-image's classic marching cubes."""
    # scikit-image is needed only for 3D surfels: imported here to keep it off every other path
    try:
        from skimage.measure import marching_cubes
    except ImportError as exc:
        raise ImportError("nsd_surface='surfel' on 3D masks needs scikit-image: "
                          "pip install scikit-image (or use nsd_surface='voxel')") from exc
    per_code: list[np.ndarray] = [np.zeros((0, 3))]
    for code in range(1, 255):
        # Lorensen's table is not symmetric under complement; the reference libraries
        # triangulate the side with at most four voxels inside
        side = code if bin(code).count("1") <= 4 else 255 - code
        verts, faces, _, _ = marching_cubes(_block(side, 3), 0.5, method="lorensen")
        v = verts.astype(np.float64)[faces]
        per_code.append(0.5 * np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]))
    per_code.append(np.zeros((0, 3)))
    out = np.zeros((256, max(len(t) for t in per_code), 3))
    for code, normals in enumerate(per_code):
        out[code, : len(normals)] = normals
    return out


def surfel_measure_table(spacing: Sequence[float]) -> np.ndarray:
    """Length (2D, 16 codes) or area (3D, 256 codes) of the surfel of each corner code, in mm
    (mm^2), for voxels of size ``spacing`` (one value per array axis).

    Examples
    --------
    >>> float(surfel_measure_table((1.0, 2.0))[0b0011])  # the upper row out, the lower row in
    2.0
    """
    if len(spacing) == 2:
        return np.array([_contour_length(code, spacing) for code in range(16)])
    if len(spacing) != 3:
        raise ValueError(f"surfels are defined for 2D and 3D masks, got {len(spacing)} axes")
    s0, s1, s2 = (float(s) for s in spacing)
    # a triangle scaled by diag(spacing) has its normal scaled by the cofactor diagonal
    cofactor = np.array([s1 * s2, s0 * s2, s0 * s1])
    return np.linalg.norm(_triangle_normals() * cofactor, axis=-1).sum(axis=-1)


def surfel_distances(
    ref: ArrayLike, pred: ArrayLike, spacing: Sequence[float] | None = None
) -> SurfelDistances:
    """Directed distances between the surfels of two masks, with each surfel's measure.

    Parameters
    ----------
    ref, pred : array_like of bool, shape ``(*S)``, 2D or 3D
        Reference and predicted masks (non-zero = inside).
    spacing : sequence of float, optional
        Voxel size per array axis in mm; default 1.0 each.

    Returns
    -------
    d_ref_to_pred, d_pred_to_ref : ndarray of float64
        Per surface corner of one mask (C order), the distance to the nearest surface corner
        of the other; ``inf`` when the other mask is empty.
    measure_ref, measure_pred : ndarray of float64
        The length (2D) or area (3D) of each of those surfels, same order.

    Raises
    ------
    ValueError
        The shapes differ, the masks are not 2D or 3D, or ``spacing`` does not hold one positive
        value per axis.

    Examples
    --------
    >>> ref = np.zeros((4, 4), bool); ref[1:3, 1:3] = True  # a 2 x 2 square
    >>> d_rp, d_pr, m_ref, m_pred = surfel_distances(ref, ref, spacing=(1.0, 1.0))
    >>> float(m_ref.sum()), float(d_rp.max())  # 4 straight sides of 1, 4 cut corners of 0.707
    (6.82842712474619, 0.0)
    """
    r, p, sp = _validate(ref, pred, spacing)
    if r.ndim not in (2, 3):
        raise ValueError(f"surfels are defined for 2D and 3D masks, got shape {r.shape}")
    union = r | p
    if not union.any():
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    box = _bounding_box(union, 0)
    codes_ref, codes_pred = (_corner_codes(np.pad(m[box], 1)) for m in (r, p))
    full = 2 ** (2 ** r.ndim) - 1
    on_ref = (codes_ref != 0) & (codes_ref != full)
    on_pred = (codes_pred != 0) & (codes_pred != full)
    table = surfel_measure_table(sp)
    return (_distances_to(on_pred, on_ref, sp), _distances_to(on_ref, on_pred, sp),
            table[codes_ref[on_ref]], table[codes_pred[on_pred]])
