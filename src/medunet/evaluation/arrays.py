"""Model-free evaluation: prediction masks against reference masks, file against file."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medunet.data.labels import LabelSet
from medunet.distances import BoundaryMetrics, boundary_metrics, summarise_boundary
from medunet.metrics import case_metrics, confusion_matrix, pixel_metrics, summarise_cases

log = logging.getLogger(__name__)

POLICY = {
    "empty_masks": "Per case and class, Dice and IoU are 1.0 when the class is absent from both "
                   "the reference and the prediction, 0.0 when it is in only one of them.",
    "present_only": "dice_present and foreground_dice_present average only over cases whose "
                    "reference contains the class, so predicting nothing is never rewarded.",
    "headline": "Pooled precision, recall and F1 are those of class 1 for binary tasks and "
                "scikit-learn's macro average over all classes otherwise.",
    "pooled_vs_mean": "Pooled metrics count every pixel of every case together (large structures "
                      "dominate); mean_case averages per-case values (each case counts once).",
}

DISTANCE_KEYS = ("hd95", "assd", "nsd")

DISTANCE_POLICY = (
    "Per case and foreground class, in distance_unit (mm from the reference's voxel spacing; px for "
    "2D raster files): HD95 is the 95th percentile of the union of both directed boundary-to-"
    "boundary distance sets, ASSD their mean, NSD the fraction of both boundaries within "
    "nsd_tolerance. Both masks empty: HD95 = ASSD = 0 and NSD = 1; exactly one empty: HD95 = ASSD "
    "= null (undefined; left out of the means and counted as 'undefined') and NSD = 0."
)


@dataclass(frozen=True)
class CaseFiles:
    """Files of one evaluated case."""

    case_id: str
    pred: Path
    ref: Path
    image: Path | None = None


@dataclass
class Evaluation:
    """Result of an evaluation: per-case confusion matrices and everything derived from them."""

    labels: LabelSet
    case_ids: list[str]
    matrices: list[np.ndarray]
    files: list[CaseFiles] | None = None
    #: ``i -> (image or None, reference, prediction)`` for the report's overlay gallery
    loader: Callable[[int], tuple[np.ndarray | None, np.ndarray, np.ndarray]] | None = None
    #: per case, per foreground class: HD95, ASSD, NSD; ``None`` when not computed
    distances: list[list[BoundaryMetrics]] | None = None
    #: ``"mm"``, ``"px"`` (2D rasters, no physical spacing) or ``"mixed"``
    distance_unit: str = "px"
    #: NSD tolerance, in ``distance_unit``
    nsd_tolerance: float = 1.0

    @property
    def pooled_matrix(self) -> np.ndarray:
        k = self.labels.num_classes
        return np.sum(self.matrices, axis=0) if self.matrices else np.zeros((k, k), np.int64)

    def per_case(self) -> list[dict[str, object]]:
        """One plain-data row per case (``metrics.json["per_case"]``)."""
        names = self.labels.names
        rows: list[dict[str, object]] = []
        for cid, cm in zip(self.case_ids, self.matrices, strict=True):
            m = case_metrics(cm)
            rows.append({
                "case": cid,
                "accuracy": float(m["accuracy"]),
                **{key: _per_class(m[key], names, float) for key in ("dice", "iou")},
                **{key: _per_class(m[key], names, int) for key in ("ref_pixels", "pred_pixels")},
            })
        if self.distances is not None:
            for row, dist in zip(rows, self.distances, strict=True):
                row.update({key: {n: d[key] for n, d in zip(names[1:], dist, strict=True)}  # type: ignore[literal-required]
                            for key in DISTANCE_KEYS})
        return rows

    def _distance_summary(self, distances: list[list[BoundaryMetrics]],
                          cases: Sequence[dict[str, np.ndarray | float]]) -> dict[str, object]:
        """``mean_case`` entries of the boundary metrics and the empty-mask counts per class."""
        fg = self.labels.names[1:]
        counts: dict[str, dict[str, int]] = {
            n: {"both_empty": 0, "reference_empty": 0, "prediction_empty": 0} for n in fg}
        for m in cases:
            ref_px, pred_px = np.asarray(m["ref_pixels"]), np.asarray(m["pred_pixels"])
            for i, n in enumerate(fg, start=1):
                if ref_px[i] == 0 or pred_px[i] == 0:
                    which = ("both_empty" if ref_px[i] == pred_px[i] else
                             "reference_empty" if ref_px[i] == 0 else "prediction_empty")
                    counts[n][which] += 1
        return {**summarise_boundary(distances, fg), "distance_empty_cases": counts}

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document."""
        names = self.labels.names
        cm = self.pooled_matrix
        m = pixel_metrics(cm)
        n = int(cm.sum())
        binary = self.labels.num_classes == 2
        headline = {
            key: float(np.asarray(m[key])[1]) if binary else float(np.asarray(m[key]).mean())
            for key in ("precision", "recall", "f1")
        }
        keys = ("precision", "recall", "f1", "dice", "iou", "specificity")
        pooled = {
            "accuracy": float(m["accuracy"]),
            "background_accuracy": float(cm[0].sum() / n) if n else 0.0,
            **headline,
            "headline_average": "class 1" if binary else "macro",
            "foreground_dice": float(np.asarray(m["dice"])[1:].mean()),
            "confusion_matrix": cm.tolist(),
            "per_class": {
                name: {**{k: float(np.asarray(m[k])[i]) for k in keys},
                       "support": int(np.asarray(m["support"])[i])}
                for i, name in enumerate(names)
            },
        }
        cases = [case_metrics(c) for c in self.matrices]
        mean_case = summarise_cases(cases, names) if cases else {}
        doc: dict[str, Any] = {
            "labels": self.labels.to_dict(),
            "num_cases": len(self.case_ids),
            "policy": POLICY,
        }
        if self.distances is not None:
            doc["policy"] = {**POLICY, "distances": DISTANCE_POLICY}
            doc["distance_unit"] = self.distance_unit
            doc["nsd_tolerance"] = self.nsd_tolerance
            if cases:
                mean_case.update(self._distance_summary(self.distances, cases))
        doc.update({"pooled": pooled, "mean_case": mean_case, "per_case": self.per_case()})
        return doc


def _per_class(values: object, names: Sequence[str], cast: type) -> dict[str, object]:
    arr = np.asarray(values)
    return {n: cast(arr[i]) for i, n in enumerate(names)}


def evaluate_arrays(
    cases: Iterable[tuple[str, np.ndarray, np.ndarray]],
    labels: LabelSet,
    *,
    spacing: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    nsd_tolerance: float = 1.0,
    distances: bool = True,
) -> Evaluation:
    """Evaluate in-memory ``(case_id, reference, prediction)`` label arrays.

    Parameters
    ----------
    cases : iterable of (str, ndarray, ndarray)
        Case id, reference and prediction label maps ``(*S)`` with values ``0..K-1``.
    labels : LabelSet
    spacing : sequence of float or mapping of str to sequence of float, optional
        Voxel size in mm per array axis, for every case or per case id. ``None``: 1.0 per
        axis and distances in pixels (``distance_unit == "px"``).
    nsd_tolerance : float, optional
        Tolerance of the normalised surface Dice, in mm (in pixels without ``spacing``).
    distances : bool, optional
        Compute HD95, ASSD and NSD per case and foreground class (see
        :mod:`medunet.distances`); ``False`` keeps only the confusion matrices (faster).

    Raises
    ------
    ValueError
        A shape mismatch, a value outside ``labels`` or a spacing that does not fit the
        masks, naming the case; a negative ``nsd_tolerance``.

    Examples
    --------
    >>> ref = np.zeros((8, 8), np.int64); ref[2:6, 2:6] = 1
    >>> ev = evaluate_arrays([("a", ref, np.roll(ref, 1, axis=1))], LabelSet.from_count(2),
    ...                      spacing=(0.5, 0.5))
    >>> ev.per_case()[0]["hd95"], ev.distance_unit
    ({'class_1': 0.5}, 'mm')
    """
    if not (np.isfinite(nsd_tolerance) and nsd_tolerance >= 0):
        raise ValueError(f"nsd_tolerance must be a finite distance >= 0, got {nsd_tolerance!r}")
    ids, mats, dists = [], [], []
    for cid, ref, pred in cases:
        try:
            mats.append(confusion_matrix(ref, pred, labels.num_classes))
            if distances:
                dists.append(_case_distances(ref, pred, labels.num_classes,
                                             _spacing_for(spacing, cid), nsd_tolerance))
        except ValueError as exc:
            raise ValueError(f"case {cid}: {exc}") from exc
        ids.append(cid)
    return Evaluation(labels, ids, mats, distances=dists if distances else None,
                      distance_unit="px" if spacing is None else "mm",
                      nsd_tolerance=float(nsd_tolerance))


def _spacing_for(
    spacing: Sequence[float] | Mapping[str, Sequence[float]] | None, case_id: str
) -> Sequence[float] | None:
    """The spacing of one case: shared, looked up by case id, or ``None`` (1.0 per axis)."""
    if not isinstance(spacing, Mapping):
        return spacing
    if case_id not in spacing:
        raise ValueError(f"no spacing given for this case (spacing is a mapping of "
                         f"{len(spacing)} case id(s))")
    return spacing[case_id]


def _case_distances(ref: np.ndarray, pred: np.ndarray, k: int, spacing: Sequence[float] | None,
                    tolerance: float) -> list[BoundaryMetrics]:
    """HD95, ASSD and NSD of each foreground class ``1..k-1`` of one case."""
    return [boundary_metrics(ref == c, pred == c, spacing, tolerance) for c in range(1, k)]


