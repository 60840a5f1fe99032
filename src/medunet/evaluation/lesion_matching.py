"""Lesion-wise matching of one binary reference mask against one binary prediction.

The rule, in the order it is applied:

1. **Lesions are connected components.** Both masks are labelled with
   :func:`scipy.ndimage.label`; ``connectivity="full"`` (the default) links voxels that share a
   face, an edge or a corner (8-neighbourhood in 2D, 26 in 3D), ``"face"`` only those that
   share a face (4 in 2D, 6 in 3D). Ids ``1..n`` follow scipy's scan order (C order of each
   component's first voxel). Two lesions that touch are therefore one lesion: a semantic mask
   cannot separate them, on either side.
2. **Small components are dropped on both sides** before matching: a component is kept when
   its size is ``>= min_size`` (voxels without a spacing; mm^3 in 3D or mm^2 in 2D with one),
   and the kept ones are renumbered ``1..n`` in the same order.
3. **One-to-one matching maximising the total IoU.** A reference lesion and a predicted
   component may be paired only when their IoU (in voxels) is strictly greater than
   ``iou_threshold`` (default 0.1: detection needs real overlap, not a good outline; how well
   a detected lesion is outlined is its per-lesion Dice). Among those pairs, the assignment of
   largest total IoU is chosen with :func:`scipy.optimize.linear_sum_assignment` (ties in
   its deterministic order), not greedily pair by pair. Matched pairs are true positives,
   unmatched reference lesions false negatives and unmatched predicted components false
   positives. With ``iou_threshold >= 0.5`` every lesion has at most one candidate, so the
   assignment is unique and any matcher agrees. This is panoptica's ``MaxBipartiteMatching``
   with ``matching_metric=IOU, strict_threshold=True`` (which adds 1e-6 per match to break
   near-ties towards more matches).

Consequences: a lesion **split** into two predicted components is matched to the piece of
larger IoU (when it exceeds the threshold) and the other piece is a false positive (one TP and
one FP); when no piece exceeds it, one FN and two FPs. Two lesions **merged** into one
predicted component: the component matches at most one of them (one TP and one FN), or
neither when it overlaps each too little (two FNs and one FP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from medunet.evaluation.lesion_results import FalsePositive, Lesion, LesionDetection, VolumeUnit

__all__ = ["Connectivity", "check_matching_options", "match_lesions"]

#: ``"full"``: face, edge and corner neighbours (8 in 2D, 26 in 3D); ``"face"``: 4 / 6
Connectivity = Literal["full", "face"]


def check_matching_options(connectivity: str, iou_threshold: float, min_size: float) -> None:
    """Raise ``ValueError`` naming the option when one is out of range."""
    if connectivity not in ("full", "face"):
        raise ValueError(f"connectivity must be 'full' or 'face', got {connectivity!r}")
    if not (math.isfinite(iou_threshold) and 0.0 <= iou_threshold < 1.0):
        raise ValueError(f"iou_threshold must lie in [0, 1), got {iou_threshold!r}")
    if not (math.isfinite(min_size) and min_size >= 0.0):
        raise ValueError(f"min_size must be a finite size >= 0, got {min_size!r}")


def _voxel_volume(ndim: int, spacing: Sequence[float] | None) -> tuple[float, VolumeUnit]:
    """Volume (or area) of one voxel and the unit of sizes."""
    if spacing is None:
        return 1.0, "voxels"
    sp = [float(s) for s in spacing]
    if len(sp) != ndim or not all(math.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"spacing {tuple(sp)} must hold {ndim} positive, finite voxel sizes "
                         f"(mm), one per array axis")
    return math.prod(sp), "mm3" if ndim == 3 else "mm2"


def _components(mask: np.ndarray, connectivity: Connectivity, voxel_volume: float,
                min_size: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Component labels ``1..n``, voxel counts ``(n,)`` and how many were dropped as too small."""
    rank = mask.ndim if connectivity == "full" else 1
    labels, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(mask.ndim, rank))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = sizes * voxel_volume >= min_size
    if keep.all():
        return labels, sizes, 0
    remap = np.zeros(n + 1, dtype=labels.dtype)
    remap[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    return remap[labels], sizes[keep], int((~keep).sum())


def _overlaps(ref_lab: np.ndarray, pred_lab: np.ndarray,
              n_pred: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping pairs as 0-based ``(ref index, pred index, voxels in common)``."""
    both = (ref_lab > 0) & (pred_lab > 0)
    # one code per pair keeps this sparse: only pairs that touch are ever counted
    codes = (ref_lab[both].astype(np.int64) - 1) * n_pred + (pred_lab[both].astype(np.int64) - 1)
    pairs, inter = np.unique(codes, return_counts=True)
    return pairs // max(n_pred, 1), pairs % max(n_pred, 1), inter


def _assign(rows: np.ndarray, cols: np.ndarray, iou: np.ndarray,
            threshold: float) -> dict[int, int]:
    """Maximum-total-IoU one-to-one assignment among pairs with IoU above ``threshold``."""
    ok = iou > threshold
    rows, cols, iou = rows[ok], cols[ok], iou[ok]
    if not rows.size:
        return {}
    # the dense problem spans only lesions with a candidate, so many tiny FPs stay cheap
    ur, ri = np.unique(rows, return_inverse=True)
    uc, ci = np.unique(cols, return_inverse=True)
    weights = np.zeros((ur.size, uc.size))
    weights[ri, ci] = iou
    a, b = linear_sum_assignment(weights, maximize=True)
    chosen = weights[a, b] > 0  # an assigned zero weight is no candidate pair
    return {int(r): int(c) for r, c in zip(ur[a[chosen]], uc[b[chosen]], strict=True)}


def match_lesions(
    ref: np.ndarray,
    pred: np.ndarray,
    *,
    spacing: Sequence[float] | None = None,
    connectivity: Connectivity = "full",
    iou_threshold: float = 0.1,
    min_size: float = 0.0,
    case_id: str = "",
    label: int = 1,
) -> LesionDetection:
    """Match the lesions of a binary prediction to those of a binary reference.

    The rule (components, size filter, one-to-one maximum-IoU matching) is the module's.

    Parameters
    ----------
    ref, pred : ndarray, same 2D or 3D shape
        Masks of one class; non-zero voxels are lesion.
    spacing : sequence of float, optional
        Voxel size in mm per array axis: sizes, ``min_size`` and volume errors are then in
        mm^3 (mm^2 in 2D). ``None``: 1 voxel each, sizes in voxels.
    connectivity : {"full", "face"}, optional
        ``"full"``: 8 neighbours in 2D, 26 in 3D; ``"face"``: 4 / 6.
    iou_threshold : float, optional
        A pair is a candidate match only when its IoU is strictly greater; in ``[0, 1)``.
    min_size : float, optional
        Components smaller than this (in the size unit above) are dropped on both sides.
    case_id, label : str, int, optional
        Recorded in the result.

    Returns
    -------
    LesionDetection
        Counts, rates and one :class:`Lesion` per reference lesion.

    Raises
    ------
    ValueError
        Shapes differ, masks are not 2D or 3D, ``spacing`` does not hold one positive size
        per axis, or an option is out of range.

    Examples
    --------
    >>> ref = np.zeros((8, 8), bool); ref[1:3, 1:3] = True; ref[5:7, 5:7] = True
    >>> det = match_lesions(ref, np.roll(ref, 1, axis=1), spacing=(0.5, 0.5))
    >>> det.tp, det.fn, det.fp, det.lesions[0].dice, det.lesions[0].size
    (2, 0, 0, 0.5, 1.0)
    """
    r, p = np.asarray(ref) != 0, np.asarray(pred) != 0
    if r.shape != p.shape:
        raise ValueError(f"reference shape {r.shape} and prediction shape {p.shape} differ")
    if r.ndim not in (2, 3):
        raise ValueError(f"expected 2D or 3D masks, got shape {r.shape}")
    check_matching_options(connectivity, iou_threshold, min_size)
    vv, unit = _voxel_volume(r.ndim, spacing)
    ref_lab, ref_size, ref_drop = _components(r, connectivity, vv, min_size)
    pred_lab, pred_size, pred_drop = _components(p, connectivity, vv, min_size)
    rows, cols, inter = _overlaps(ref_lab, pred_lab, pred_size.size)
    iou = inter / (ref_size[rows] + pred_size[cols] - inter)
    match = _assign(rows, cols, iou, iou_threshold)
    common = {(int(i), int(j)): int(n) for i, j, n in zip(rows, cols, inter, strict=True)}
    lesions = tuple(_lesion(i, int(ref_size[i]), match.get(i), pred_size, common, vv)
                    for i in range(ref_size.size))
    taken = set(match.values())
    fps = tuple(FalsePositive(j + 1, int(n), float(n * vv))
                for j, n in enumerate(pred_size) if j not in taken)
    return LesionDetection(case_id, int(label), unit, tp=len(match), fp=len(fps),
                           fn=len(lesions) - len(match), lesions=lesions, false_positives=fps,
                           dropped_reference=ref_drop, dropped_predicted=pred_drop)


def _lesion(i: int, size: int, j: int | None, pred_size: np.ndarray,
            common: dict[tuple[int, int], int], vv: float) -> Lesion:
    """Row of reference lesion ``i`` (0-based), matched to predicted component ``j`` or missed."""
    if j is None:
        return Lesion(i + 1, size, float(size * vv))
    ps, n = int(pred_size[j]), common[(i, j)]
    return Lesion(i + 1, size, float(size * vv), pred_id=j + 1, iou=n / (size + ps - n),
                  dice=2 * n / (size + ps), volume_error=float((ps - size) * vv),
                  relative_volume_error=(ps - size) / size)
