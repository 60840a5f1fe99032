"""The per-lesion view of a gallery case: where each reference lesion and false positive is.

The verdicts (detected, missed, false positive) are the evaluation's own, read from
``MetricsDocument.lesions``; only the components are labelled again, with the rule of
:mod:`medunet.evaluation.lesion_matching` (same connectivity, size filter and numbering), on
the gallery's arrays. A volume cut to its foreground slices keeps every component whole, so
the ids agree; when the sizes do not (the gallery shows other arrays than were evaluated),
the class is left out of the view rather than marked wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# the component labelling must be the evaluation's, not a copy of it that could drift
from medunet.evaluation.lesion_matching import _components
from medunet.evaluation.lesion_results import LesionDetection
from medunet.evaluation.lesions import LesionEvaluation
from medunet.report.gallery import GalleryItem
from medunet.report.overlays import LesionMasks

__all__ = ["LesionMark", "lesion_view"]


@dataclass(frozen=True)
class LesionMark:
    """One reference lesion or false-positive component of a gallery case, for its table."""

    class_name: str
    kind: str  # "lesion" or "false positive"
    ident: int
    size: float
    volume_unit: str
    detected: bool | None  # None for a false positive
    dice: float | None
    #: centre of the component, in the original case's voxel indices
    centre: tuple[int, ...]


def _voxel_volume(det: LesionDetection) -> float | None:
    """The volume of one voxel as the evaluation measured it (``None``: nothing was kept)."""
    sizes = [(p.size, p.size_voxels) for p in det.lesions]
    sizes += [(p.size, p.size_voxels) for p in det.false_positives]
    for size, voxels in sizes:
        if voxels:
            return size / voxels
    return None


def _centres(labels: np.ndarray, n: int, z_offset: int) -> list[tuple[int, ...]]:
    """Rounded centre of components ``1..n`` (the first axis of a volume shifted by
    ``z_offset``): one pass over the labelled voxels, not one per component."""
    if n == 0:
        return []
    where = np.flatnonzero(labels)
    ids = labels.ravel()[where]
    counts = np.bincount(ids, minlength=n + 1)[1:]
    coords = np.unravel_index(where, labels.shape)
    axes = [np.bincount(ids, weights=c, minlength=n + 1)[1:] / counts for c in coords]
    if labels.ndim == 3:
        axes[0] = axes[0] + z_offset
    return [tuple(int(v) for v in np.round(c)) for c in zip(*axes, strict=True)]


def _class_view(item: GalleryItem, det: LesionDetection, name: str, lesions: LesionEvaluation
                ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], list[LesionMark]] | None:
    """Masks and marks of one class, or ``None`` when the arrays do not give the evaluated lesions."""
    vv = _voxel_volume(det)
    if vv is None:
        return None
    s = lesions.settings
    ref_lab, ref_sizes, _ = _components(np.asarray(item.ref) == det.label, s.connectivity, vv,
                                        s.min_size)
    pred_lab, pred_sizes, _ = _components(np.asarray(item.pred) == det.label, s.connectivity,
                                          vv, s.min_size)
    same = ([int(v) for v in ref_sizes] == [les.size_voxels for les in det.lesions]
            and pred_sizes.size == det.tp + det.fp
            and all(int(pred_sizes[fp.pred_id - 1]) == fp.size_voxels
                    for fp in det.false_positives))
    if not same:
        return None
    found = [les.lesion_id for les in det.lesions if les.detected]
    lost = [les.lesion_id for les in det.lesions if not les.detected]
    fps = [fp.pred_id for fp in det.false_positives]
    masks = (np.isin(ref_lab, found), np.isin(ref_lab, lost), np.isin(pred_lab, fps))
    ref_at = _centres(ref_lab, ref_sizes.size, item.z_offset)
    pred_at = _centres(pred_lab, pred_sizes.size, item.z_offset)
    marks = [LesionMark(name, "lesion", les.lesion_id, les.size, det.volume_unit, les.detected,
                        les.dice if les.detected else None, ref_at[les.lesion_id - 1])
             for les in det.lesions]
    marks += [LesionMark(name, "false positive", fp.pred_id, fp.size, det.volume_unit, None,
                         None, pred_at[fp.pred_id - 1]) for fp in det.false_positives]
    return masks, marks


def lesion_view(item: GalleryItem, lesions: LesionEvaluation, names: Sequence[str]
                ) -> tuple[LesionMasks | None, list[LesionMark], list[str]]:
    """The lesion masks (every class together) and marks of one gallery case.

    Returns
    -------
    masks : LesionMasks or None
        ``None`` when the case has no lesion entry in ``lesions``.
    marks : list of LesionMark
        Per class, each reference lesion then each false positive.
    skipped : list of str
        Classes left out because the gallery arrays do not give the evaluated lesions.
    """
    dets = [d for d in lesions.per_case if d.case_id == item.case_id]
    if not dets:
        return None, [], []
    shape = np.shape(item.ref)
    detected, missed, false_pos = (np.zeros(shape, bool) for _ in range(3))
    marks: list[LesionMark] = []
    skipped: list[str] = []
    for det in dets:
        if not (det.lesions or det.false_positives):
            continue
        view = _class_view(item, det, names[det.label], lesions)
        if view is None:
            skipped.append(names[det.label])
            continue
        (found, lost, fps), class_marks = view
        detected |= found
        missed |= lost
        false_pos |= fps
        marks += class_marks
    return LesionMasks(detected, missed, false_pos), marks, skipped
