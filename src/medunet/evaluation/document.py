"""The metrics document of an evaluation: typed rows and summaries, plain data only at the boundary.

:class:`MetricsDocument` is built once from per-case confusion matrices (and boundary metrics);
``to_dict()`` gives the ``metrics.json`` document (keys in a fixed order) and the CSV, the
report, the training log and the CLI read its attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from medunet.data.labels import LabelSet
from medunet.distances import (
    DISTANCE_KEYS,
    BoundaryMetrics,
    BoundarySummary,
    DistanceSettings,
    summarise_boundary,
)
from medunet.evaluation.intervals import ConfidenceInterval
from medunet.evaluation.lesion_doc import lesion_block
from medunet.evaluation.lesions import LESION_POLICY, LesionEvaluation
from medunet.evaluation.policy import DISTANCE_POLICY, POLICY, distance_policy
from medunet.metrics import CaseSummary, case_metrics, pixel_metrics, pooled_counts, summarise_cases

__all__ = ["DISTANCE_POLICY", "POLICY", "CaseRow", "ClassMetrics", "DistanceUnit", "EmptyCounts",
           "MeanCase", "MetricsDocument", "Pooled"]

#: ``"mm"`` (voxel spacing), ``"px"`` (2D rasters, no physical spacing) or ``"mixed"``
DistanceUnit = Literal["mm", "px", "mixed"]
#: how the pooled precision, recall and F1 average over classes
HeadlineAverage = Literal["class 1", "macro"]

@dataclass(frozen=True)
class CaseRow:
    """One case: accuracy, Dice, IoU and pixel counts per class; boundary metrics per foreground
    class (``None`` when distances were not computed)."""

    case: str
    accuracy: float
    dice: Mapping[str, float]
    iou: Mapping[str, float]
    ref_pixels: Mapping[str, int]
    pred_pixels: Mapping[str, int]
    hd95: Mapping[str, float | None] | None = None
    assd: Mapping[str, float | None] | None = None
    nsd: Mapping[str, float] | None = None
    #: the case's uncertainty score (:mod:`medunet.inference.uncertainty`), when predicted with it
    uncertainty: float | None = None

    @classmethod
    def from_counts(cls, case_id: str, cm: np.ndarray, names: Sequence[str],
                    distances: Sequence[BoundaryMetrics] | None = None) -> CaseRow:
        """The row of one case from its ``(K, K)`` confusion matrix and, optionally, the
        boundary metrics of each foreground class ``names[1:]``."""
        m = case_metrics(cm)

        def per_class(key: str, cast: type) -> dict[str, Any]:
            return {n: cast(v) for n, v in zip(names, np.asarray(m[key]), strict=True)}

        dist: dict[str, Any] = {}
        if distances is not None:
            fg = list(zip(names[1:], distances, strict=True))
            dist = {key: {n: d[key] for n, d in fg} for key in DISTANCE_KEYS}  # type: ignore[literal-required]
        return cls(case_id, float(m["accuracy"]), per_class("dice", float), per_class("iou", float),
                   per_class("ref_pixels", int), per_class("pred_pixels", int), **dist)

    @property
    def foreground_dice(self) -> float:
        """Mean Dice over the foreground classes (the gallery's ranking)."""
        return float(np.mean(list(self.dice.values())[1:]))

    def to_dict(self) -> dict[str, object]:
        """One entry of ``metrics.json["per_case"]``."""
        out: dict[str, object] = {"case": self.case, "accuracy": self.accuracy,
                                  "dice": dict(self.dice), "iou": dict(self.iou),
                                  "ref_pixels": dict(self.ref_pixels),
                                  "pred_pixels": dict(self.pred_pixels)}
        if self.hd95 is not None and self.assd is not None and self.nsd is not None:
            out.update(hd95=dict(self.hd95), assd=dict(self.assd), nsd=dict(self.nsd))
        if self.uncertainty is not None:
            out["uncertainty"] = self.uncertainty
        return out


@dataclass(frozen=True)
class ClassMetrics:
    """Pooled pixel metrics of one class (``support``: its reference pixels)."""

    precision: float
    recall: float
    f1: float
    dice: float
    iou: float
    specificity: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Pooled:
    """Metrics of every pixel of every case counted together (scikit-learn's numbers)."""

    accuracy: float
    background_accuracy: float
    precision: float
    recall: float
    f1: float
    headline_average: HeadlineAverage
    foreground_dice: float
    confusion_matrix: tuple[tuple[int, ...], ...]
    per_class: Mapping[str, ClassMetrics]

    @classmethod
    def from_counts(cls, cm: np.ndarray, names: Sequence[str]) -> Pooled:
        """The pooled block from the summed ``(K, K)`` confusion matrix; the headline precision,
        recall and F1 are class 1's for two classes, the macro average otherwise."""
        m = {key: np.asarray(v) for key, v in pixel_metrics(cm).items()}
        n = int(cm.sum())
        binary = len(names) == 2

        def headline(key: str) -> float:
            return float(m[key][1]) if binary else float(m[key].mean())

        per_class = {name: ClassMetrics(
            precision=float(m["precision"][i]), recall=float(m["recall"][i]), f1=float(m["f1"][i]),
            dice=float(m["dice"][i]), iou=float(m["iou"][i]),
            specificity=float(m["specificity"][i]), support=int(m["support"][i]))
            for i, name in enumerate(names)}
        return cls(float(m["accuracy"]), float(cm[0].sum() / n) if n else 0.0, headline("precision"),
                   headline("recall"), headline("f1"), "class 1" if binary else "macro",
                   float(m["dice"][1:].mean()), tuple(tuple(int(v) for v in row) for row in cm),
                   per_class)

    def to_dict(self) -> dict[str, object]:
        """``metrics.json["pooled"]``."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["confusion_matrix"] = [list(row) for row in self.confusion_matrix]
        out["per_class"] = {n: c.to_dict() for n, c in self.per_class.items()}
        return out


@dataclass(frozen=True)
class EmptyCounts:
    """Cases of one foreground class with an empty reference and/or prediction."""

    both_empty: int = 0
    reference_empty: int = 0
    prediction_empty: int = 0

    @classmethod
    def count(cls, rows: Sequence[CaseRow], name: str) -> EmptyCounts:
        """The counts of class ``name`` over ``rows``."""
        ref = [r.ref_pixels[name] == 0 for r in rows]
        pred = [r.pred_pixels[name] == 0 for r in rows]
        return cls(sum(a and b for a, b in zip(ref, pred, strict=True)),
                   sum(a and not b for a, b in zip(ref, pred, strict=True)),
                   sum(b and not a for a, b in zip(ref, pred, strict=True)))


@dataclass(frozen=True)
class MeanCase(CaseSummary):
    """Per-case values averaged over cases, with the boundary metrics when they were computed."""

    boundary: BoundarySummary | None = None
    #: per foreground class, the cases with an empty mask (with ``boundary``)
    empty_cases: Mapping[str, EmptyCounts] | None = None

    def to_dict(self) -> dict[str, object]:
        """``metrics.json["mean_case"]``."""
        out = super().to_dict()
        if self.boundary is not None and self.empty_cases is not None:
            out.update(self.boundary.to_dict())
            out["distance_empty_cases"] = {n: asdict(c) for n, c in self.empty_cases.items()}
        return out


def _fields_of(summary: CaseSummary) -> dict[str, Any]:
    """The fields of ``summary`` as keyword arguments, values as they are (``asdict`` converts)."""
    return {f.name: getattr(summary, f.name) for f in fields(summary)}


@dataclass(frozen=True)
class MetricsDocument:
    """Everything an evaluation reports; ``to_dict()`` is ``metrics.json``.

    ``mean_case`` is ``None`` without cases; ``distance_unit``, ``nsd_tolerance`` and
    ``distance_settings`` are ``None`` when boundary distances were not computed (rows then
    have no ``hd95``).
    """

    labels: LabelSet
    policy: Mapping[str, str]
    pooled: Pooled
    mean_case: MeanCase | None
    per_case: tuple[CaseRow, ...]
    distance_unit: DistanceUnit | None = None
    nsd_tolerance: float | None = None
    #: the distance conventions used (``None`` without distances)
    distance_settings: DistanceSettings | None = None
    #: lesion-wise detection per foreground class (``None`` when switched off)
    lesions: LesionEvaluation | None = None
    #: bootstrap CIs by dotted metric name (``"pooled.foreground_dice"``, ``"mean_case.dice.<class>"``,
    #: ``"lesions.<class>.f1"``, ...); ``None`` when the bootstrap is off
    intervals: Mapping[str, ConfidenceInterval] | None = None
    #: what the reader must know about how the numbers came about (resampled cases, few cases)
    notes: tuple[str, ...] = ()

    @classmethod
    def build(cls, labels: LabelSet, case_ids: Sequence[str], matrices: Sequence[np.ndarray],
              distances: Sequence[Sequence[BoundaryMetrics]] | None = None, *,
              distance_unit: DistanceUnit = "px",
              distance_settings: DistanceSettings | None = None,
              lesions: LesionEvaluation | None = None,
              notes: Sequence[str] = ()) -> MetricsDocument:
        """The document of an evaluation, without intervals (:meth:`Evaluation.document` adds
        them).

        Parameters
        ----------
        labels : LabelSet
        case_ids : sequence of str
        matrices : sequence of ndarray
            Per case, the ``(K, K)`` confusion matrix (rows: reference, columns: prediction).
        distances : sequence of sequence of BoundaryMetrics, optional
            Per case, the boundary metrics of each foreground class; ``None``: not computed
            (the document then has no distance entries).
        distance_unit : {"mm", "px", "mixed"}, optional
        distance_settings : DistanceSettings, optional
            The NSD tolerance (in ``distance_unit``) and conventions; default
            ``DistanceSettings()``.
        lesions : LesionEvaluation, optional
        notes : sequence of str, optional

        Returns
        -------
        MetricsDocument
        """
        names = labels.names
        rows = tuple(CaseRow.from_counts(cid, cm, names, None if distances is None else distances[i])
                     for i, (cid, cm) in enumerate(zip(case_ids, matrices, strict=True)))
        pooled = Pooled.from_counts(pooled_counts(matrices, labels.num_classes), names)
        mean_case = None
        if rows:
            summary = _fields_of(summarise_cases([case_metrics(cm) for cm in matrices], names))
            if distances is not None:
                summary["boundary"] = summarise_boundary(distances, names[1:])
                summary["empty_cases"] = {n: EmptyCounts.count(rows, n) for n in names[1:]}
            mean_case = MeanCase(**summary)
        policy = dict(POLICY)
        settings = None
        if distances is not None:
            settings = distance_settings or DistanceSettings()
            policy["distances"] = distance_policy(settings)
        if lesions is not None:
            policy["lesions"] = LESION_POLICY
        return cls(labels, policy, pooled, mean_case, rows,
                   None if settings is None else distance_unit,
                   None if settings is None else settings.tolerance_mm, settings, lesions,
                   notes=tuple(notes))

    @property
    def num_cases(self) -> int:
        return len(self.per_case)

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document (plain JSON data); the blocks ``distance_conventions``,
        ``lesions``, ``confidence_intervals`` and ``notes`` follow ``per_case`` when present."""
        doc: dict[str, Any] = {"labels": self.labels.to_dict(), "num_cases": self.num_cases,
                               "policy": dict(self.policy)}
        if self.distance_unit is not None:
            doc.update(distance_unit=self.distance_unit, nsd_tolerance=self.nsd_tolerance)
        doc.update(pooled=self.pooled.to_dict(),
                   mean_case={} if self.mean_case is None else self.mean_case.to_dict(),
                   per_case=[row.to_dict() for row in self.per_case])
        if self.distance_settings is not None:
            d = self.distance_settings
            doc["distance_conventions"] = {"hd95": d.hd_convention, "nsd_surface": d.nsd_surface,
                                           "nsd_tolerance": d.tolerance_mm}
        if self.lesions is not None:
            doc["lesions"] = lesion_block(self.lesions, self.labels.names,
                                          [r.case for r in self.per_case])
        if self.intervals is not None:
            doc["confidence_intervals"] = {k: ci.to_dict() for k, ci in self.intervals.items()}
        if self.notes:
            doc["notes"] = list(self.notes)
        return doc
