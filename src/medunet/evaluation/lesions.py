"""Lesion-wise detection metrics: per case and class, and pooled over cases.

Each foreground class ``1..K-1`` of each case is matched on its own with
:func:`~medunet.evaluation.lesion_matching.match_lesions` (connected components, size filter,
one-to-one matching of largest total IoU among pairs above ``iou_threshold``; the module
docstring there spells out the rule and how split, merged and touching lesions come out).
Pooling sums TP/FP/FN over cases before forming sensitivity, precision and F1 (= panoptica's
RQ), so a case with many lesions weighs more than one with a single lesion.

Examples
--------
>>> ref = np.zeros((16, 16), np.int64); ref[2:6, 2:6] = 1; ref[10:12, 10:12] = 1
>>> pred = np.zeros_like(ref); pred[2:6, 3:7] = 1; pred[12:15, 1:4] = 1
>>> ev = evaluate_lesions([("a", ref, pred)], 2)
>>> s = ev.pooled[0]
>>> s.tp, s.fn, s.fp, s.sensitivity, s.f1, s.mean_dice_all
(1, 1, 1, 0.5, 0.5, 0.375)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medunet.evaluation.lesion_matching import Connectivity, check_matching_options, match_lesions
from medunet.evaluation.lesion_results import LesionDetection, LesionSummary, SizeBin

__all__ = ["DEFAULT_SIZE_BINS", "LESION_POLICY", "LesionEvaluation", "LesionSettings",
           "detect_lesions", "evaluate_lesions", "summarise_lesions"]

#: edges of the size bins ``[0, 10), [10, 100), [100, 1000), [1000, inf)`` (mm^3, mm^2 or voxels)
DEFAULT_SIZE_BINS: tuple[float, ...] = (0.0, 10.0, 100.0, 1000.0, math.inf)

LESION_POLICY = (
    "Per case and foreground class, lesions are the connected components of the reference and "
    "of the prediction (settings.connectivity 'full': 8 neighbours in 2D, 26 in 3D; 'face': 4 / "
    "6); touching lesions are one. Components smaller than settings.min_size (mm^3, mm^2 with a "
    "spacing, else voxels) are dropped on both sides. A reference lesion and a predicted "
    "component can match only when their IoU is above settings.iou_threshold; among those "
    "pairs the one-to-one assignment of largest total IoU is taken (Hungarian). Matched pairs "
    "are TP, unmatched reference lesions FN, unmatched predicted components FP: a split lesion "
    "gives one TP and one FP, a merged pair one TP and one FN. Per-lesion Dice, IoU and volume "
    "error are those of the matched pair (Dice and IoU 0, errors null when missed). Pooled "
    "rates come from TP/FP/FN summed over cases; sensitivity is null without reference "
    "lesions, precision without predicted ones, F1 (= panoptic RQ) without either."
)


@dataclass(frozen=True)
class LesionSettings:
    """The options of a lesion-wise evaluation, validated (see :func:`evaluate_lesions`)."""

    connectivity: Connectivity = "full"
    iou_threshold: float = 0.1
    min_size: float = 0.0
    size_bins: tuple[float, ...] = DEFAULT_SIZE_BINS

    def __post_init__(self) -> None:
        check_matching_options(self.connectivity, self.iou_threshold, self.min_size)
        edges = tuple(float(e) for e in self.size_bins)
        if (len(edges) < 2 or any(math.isnan(e) for e in edges) or edges[0] < 0
                or any(b <= a for a, b in zip(edges, edges[1:], strict=False))):
            raise ValueError(f"size_bins must be at least two increasing edges >= 0 (the last "
                             f"may be inf), got {self.size_bins!r}")
        object.__setattr__(self, "size_bins", edges)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; an infinite bin edge becomes ``None``."""
        return {"connectivity": self.connectivity, "iou_threshold": self.iou_threshold,
                "min_size": self.min_size,
                "size_bins": [e if math.isfinite(e) else None for e in self.size_bins]}


@dataclass(frozen=True)
class LesionEvaluation:
    """Lesion-wise detection of many cases: per case and class, and pooled per class."""

    settings: LesionSettings
    #: one entry per case and foreground class, in case order, then class order
    per_case: tuple[LesionDetection, ...]
    #: one entry per foreground class, by label
    pooled: tuple[LesionSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: policy, settings, pooled and per-case entries."""
        return {"policy": LESION_POLICY, "settings": self.settings.to_dict(),
                "pooled": [s.to_dict() for s in self.pooled],
                "per_case": [d.to_dict() for d in self.per_case]}


def _check_labels(arr: np.ndarray, num_classes: int, what: str) -> None:
    """Raise ``ValueError`` when ``arr`` holds values outside ``0..num_classes-1``."""
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= num_classes):
        raise ValueError(f"{what} label values must lie in 0..{num_classes - 1}, found "
                         f"{int(arr.min())}..{int(arr.max())}")


def detect_lesions(
    ref: np.ndarray,
    pred: np.ndarray,
    num_classes: int,
    *,
    spacing: Sequence[float] | None = None,
    connectivity: Connectivity = "full",
    iou_threshold: float = 0.1,
    min_size: float = 0.0,
    case_id: str = "",
) -> tuple[LesionDetection, ...]:
    """Lesion-wise detection of every foreground class of one case.

    Parameters
    ----------
    ref, pred : ndarray of int, same 2D or 3D shape
        Reference and prediction label maps with values ``0..K-1``.
    num_classes : int
        ``K`` (background included), at least 2.
    spacing, connectivity, iou_threshold, min_size
        As for :func:`~medunet.evaluation.lesion_matching.match_lesions`.
    case_id : str, optional
        Recorded in the results.

    Returns
    -------
    tuple of LesionDetection
        One per class ``1..K-1``, in order.

    Raises
    ------
    ValueError
        A value outside ``0..K-1``, a shape mismatch, masks not 2D or 3D, a bad spacing or
        an option out of range.
    """
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be at least 2 (background and one class), got "
                         f"{num_classes!r}")
    r, p = np.asarray(ref), np.asarray(pred)
    _check_labels(r, num_classes, "reference")
    _check_labels(p, num_classes, "prediction")
    return tuple(match_lesions(r == c, p == c, spacing=spacing, connectivity=connectivity,
                               iou_threshold=iou_threshold, min_size=min_size,
                               case_id=case_id, label=c)
                 for c in range(1, int(num_classes)))


def summarise_lesions(
    detections: Iterable[LesionDetection], *, size_bins: Sequence[float] = DEFAULT_SIZE_BINS
) -> tuple[LesionSummary, ...]:
    """Pool per-case detections per class: summed counts, mean Dice and size bins.

    Parameters
    ----------
    detections : iterable of LesionDetection
        Any number of cases and classes; each class is pooled over the cases it appears in.
    size_bins : sequence of float, optional
        Increasing bin edges on the reference lesion size (in its ``volume_unit``); bin ``i``
        is ``[size_bins[i], size_bins[i+1])`` and lesions outside every bin are counted in none.

    Returns
    -------
    tuple of LesionSummary
        One per label present, by label.

    Raises
    ------
    ValueError
        Bad ``size_bins``, or one class with sizes in two units (spacing for some cases only).
    """
    edges = LesionSettings(size_bins=tuple(size_bins)).size_bins
    by_label: dict[int, list[LesionDetection]] = {}
    for det in detections:
        by_label.setdefault(det.label, []).append(det)
    return tuple(_pool(label, by_label[label], edges) for label in sorted(by_label))


def _pool(label: int, dets: list[LesionDetection], edges: tuple[float, ...]) -> LesionSummary:
    """The pooled summary of one class."""
    units = sorted({d.volume_unit for d in dets})
    if len(units) > 1:
        raise ValueError(f"class {label}: lesion sizes in {' and '.join(units)} cannot be pooled; "
                         "give a spacing for every case or for none")
    lesions = [les for d in dets for les in d.lesions]
    dice_found = [les.dice for les in lesions if les.detected]
    sizes = np.array([les.size for les in lesions], dtype=np.float64)
    found = np.array([les.detected for les in lesions], dtype=bool)
    where = np.searchsorted(np.asarray(edges), sizes, side="right") - 1
    bins = tuple(SizeBin(lo, hi, int((where == i).sum()), int(found[where == i].sum()))
                 for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)))
    return LesionSummary(
        label, units[0], num_cases=len(dets), tp=sum(d.tp for d in dets),
        fp=sum(d.fp for d in dets), fn=sum(d.fn for d in dets),
        mean_dice_detected=float(np.mean(dice_found)) if dice_found else None,
        mean_dice_all=float(np.mean([les.dice for les in lesions])) if lesions else None,
        size_bins=bins)


def evaluate_lesions(
    cases: Iterable[tuple[str, np.ndarray, np.ndarray]],
    num_classes: int,
    *,
    spacing: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    connectivity: Connectivity = "full",
    iou_threshold: float = 0.1,
    min_size: float = 0.0,
    size_bins: Sequence[float] = DEFAULT_SIZE_BINS,
) -> LesionEvaluation:
    """Lesion-wise detection of in-memory ``(case_id, reference, prediction)`` label maps.

    Parameters
    ----------
    cases : iterable of (str, ndarray, ndarray)
        Case id, reference and prediction label maps ``(*S)`` (2D or 3D), values ``0..K-1``.
    num_classes : int
        ``K``, background included.
    spacing : sequence of float or mapping of str to sequence of float, optional
        Voxel size in mm per array axis, for every case or per case id; ``None``: sizes and
        ``min_size`` in voxels.
    connectivity : {"full", "face"}, optional
        ``"full"`` (default): 8 neighbours in 2D, 26 in 3D; ``"face"``: 4 / 6.
    iou_threshold : float, optional
        Pairs match only with IoU strictly above it; in ``[0, 1)``, default 0.1.
    min_size : float, optional
        Components below it (mm^3 / mm^2 with a spacing, else voxels) are dropped on both
        sides before matching; default 0 keeps all.
    size_bins : sequence of float, optional
        Edges of the detection-rate bins on the reference lesion size (see
        :func:`summarise_lesions`).

    Returns
    -------
    LesionEvaluation

    Raises
    ------
    ValueError
        An option out of range, or a case whose masks or spacing do not fit, naming the case.
    """
    settings = LesionSettings(connectivity, float(iou_threshold), float(min_size),
                              tuple(size_bins))
    per_case: list[LesionDetection] = []
    for cid, ref, pred in cases:
        try:
            if isinstance(spacing, Mapping) and cid not in spacing:
                raise ValueError(f"no spacing given (spacing maps {len(spacing)} case id(s))")
            sp = spacing[cid] if isinstance(spacing, Mapping) else spacing
            per_case.extend(detect_lesions(
                ref, pred, num_classes, spacing=sp, connectivity=settings.connectivity,
                iou_threshold=settings.iou_threshold, min_size=settings.min_size, case_id=cid))
        except ValueError as exc:
            raise ValueError(f"case {cid}: {exc}") from exc
    return LesionEvaluation(settings, tuple(per_case),
                            summarise_lesions(per_case, size_bins=settings.size_bins))
