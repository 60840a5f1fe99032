"""Model-free evaluation of label arrays: per-case confusion matrices, boundary metrics and
lesion-wise detection, with bootstrap confidence intervals of the headline metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from medunet.data.labels import LabelSet
from medunet.distances import BoundaryMetrics, DistanceSettings, boundary_metrics
from medunet.evaluation.defaults import DEFAULT_BOOTSTRAP, DEFAULT_DISTANCE, DEFAULT_LESIONS
from medunet.evaluation.document import DistanceUnit, MetricsDocument
from medunet.evaluation.groups import GroupSpec
from medunet.evaluation.intervals import BootstrapOptions, ConfidenceInterval
from medunet.evaluation.lesion_results import LesionDetection
from medunet.evaluation.lesions import (
    LesionEvaluation,
    LesionSettings,
    detect_lesions,
    summarise_lesions,
)
from medunet.evaluation.policy import interval_policy
from medunet.evaluation.resampling import case_groups
from medunet.evaluation.uncertainty import headline_intervals
from medunet.metrics import confusion_matrix, pooled_counts

log = logging.getLogger(__name__)

#: a spacing for every case, or one per case id (``None``: 1.0 per axis, sizes in voxels)
Spacing = Sequence[float] | Mapping[str, Sequence[float] | None] | None


@dataclass(frozen=True)
class CaseFiles:
    """Files of one evaluated case (``uncertainty``: the prediction's uncertainty map, shown in
    the report's gallery; default: ``<pred stem>_uncertainty.*`` beside ``pred``, if any)."""

    case_id: str
    pred: Path
    ref: Path
    image: Path | None = None
    uncertainty: Path | None = None


# eq=False: the fields hold arrays, and an evaluation is compared through its document
@dataclass(frozen=True, eq=False)
class Evaluation:
    """Result of an evaluation: per-case confusion matrices, boundary metrics and lesions.

    Immutable; :meth:`document` derives every reported number from it (the bootstrap runs
    once, on the first call).
    """

    labels: LabelSet
    case_ids: list[str]
    #: per case, the ``(K, K)`` confusion matrix (rows: reference, columns: prediction)
    matrices: list[np.ndarray]
    #: the mask (and image) files of each case, for evaluations of files
    files: list[CaseFiles] | None = None
    #: per case, per foreground class: HD95, ASSD, NSD; ``None`` when not computed
    distances: list[list[BoundaryMetrics]] | None = None
    #: ``"mm"``, ``"px"`` (2D rasters, no physical spacing) or ``"mixed"``
    distance_unit: DistanceUnit = "px"
    #: NSD tolerance (in ``distance_unit``) and the distance conventions
    distance_settings: DistanceSettings = DEFAULT_DISTANCE
    #: lesion-wise detection per case and foreground class; ``None`` when switched off
    lesions: LesionEvaluation | None = None
    #: options of the confidence intervals; ``None``: no bootstrap
    bootstrap: BootstrapOptions | None = None
    #: the group (patient) of each case, the bootstrap's resampling unit; ``None``: cases
    groups: tuple[str, ...] | None = None
    #: how the numbers came about, for the reader (e.g. resampled predictions)
    notes: tuple[str, ...] = ()
    #: per case id, the uncertainty score of its prediction (``evaluate RUN --uncertainty``)
    uncertainty: Mapping[str, float] | None = None

    @property
    def nsd_tolerance(self) -> float:
        """The NSD tolerance, in ``distance_unit``."""
        return self.distance_settings.tolerance_mm

    @property
    def pooled_matrix(self) -> np.ndarray:
        """The ``(K, K)`` confusion matrix of all cases together."""
        return pooled_counts(self.matrices, self.labels.num_classes)

    def document(self) -> MetricsDocument:
        """The typed metrics document: pooled, mean-case, per-case and lesion-wise metrics, and
        the confidence intervals when :attr:`bootstrap` is set."""
        return self._document

    @cached_property
    def _document(self) -> MetricsDocument:
        """The document, built on first use (the bootstrap is the slow part)."""
        doc = MetricsDocument.build(self.labels, self.case_ids, self.matrices, self.distances,
                                    distance_unit=self.distance_unit,
                                    distance_settings=self.distance_settings,
                                    lesions=self.lesions, notes=self.notes)
        if self.uncertainty is not None:
            scores = self.uncertainty
            doc = replace(doc, per_case=tuple(replace(r, uncertainty=scores.get(r.case))
                                              for r in doc.per_case))
        if self.bootstrap is None or not doc.per_case:
            return doc
        cis = headline_intervals(doc.per_case, self.matrices, self.labels.names, self.bootstrap,
                                 lesions=self.lesions, groups=self.groups)
        if not cis:
            return replace(doc, intervals=cis)
        unit = "group" if self.groups is not None else "case"
        policy = {**doc.policy, "confidence_intervals": interval_policy(self.bootstrap, unit)}
        return replace(doc, policy=policy, intervals=cis, notes=doc.notes + _interval_notes(cis))

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document (``self.document().to_dict()``)."""
        return self.document().to_dict()


def _interval_notes(cis: Mapping[str, ConfidenceInterval]) -> tuple[str, ...]:
    """A note when the headline interval rests on too few cases or groups."""
    ci = cis.get("pooled.foreground_dice")
    return () if ci is None or ci.reliable else (f"confidence intervals: {ci.note}",)


def evaluate_arrays(
    cases: Iterable[tuple[str, np.ndarray, np.ndarray]],
    labels: LabelSet,
    *,
    spacing: Spacing = None,
    distance: DistanceSettings = DEFAULT_DISTANCE,
    distances: bool = True,
    lesions: LesionSettings | None = DEFAULT_LESIONS,
    bootstrap: BootstrapOptions | None = DEFAULT_BOOTSTRAP,
    groups: GroupSpec | None = None,
    notes: Sequence[str] = (),
) -> Evaluation:
    """Evaluate in-memory ``(case_id, reference, prediction)`` label arrays.

    Parameters
    ----------
    cases : iterable of (str, ndarray, ndarray)
        Case id, reference and prediction label maps ``(*S)`` with values ``0..K-1``.
    labels : LabelSet
    spacing : sequence of float or mapping of str to sequence of float, optional
        Voxel size in mm per array axis, for every case or per case id (a ``None`` value: that
        case in pixels). ``None``: 1.0 per axis, distances in pixels (``distance_unit ==
        "px"``) and lesion sizes in voxels. Distances and lesions use the same spacing.
    distance : DistanceSettings, optional
        NSD tolerance (mm; pixels without ``spacing``) and the HD95 and NSD conventions.
    distances : bool, optional
        Compute HD95, ASSD and NSD per case and foreground class (see
        :mod:`medunet.distances`); ``False`` keeps only the confusion matrices (faster).
    lesions : LesionSettings or None, optional
        Lesion-wise detection of each foreground class (connected components matched one to
        one, see :mod:`medunet.evaluation.lesions`); ``None`` switches it off.
    bootstrap : BootstrapOptions or None, optional
        Confidence intervals of the headline metrics (default: 2000 resamples, seed 0, BCa,
        95 %), computed on the first :meth:`Evaluation.document`; ``None``: none.
    groups : str, compiled regex or mapping of str to str, optional
        Resample groups of cases (patients) instead of cases: a regex whose first capturing
        group names the group, or a ``{case id: group}`` mapping.
    notes : sequence of str, optional
        Carried into the document (``metrics.json["notes"]``).

    Raises
    ------
    ValueError
        A shape mismatch, a value outside ``labels`` or a spacing that does not fit the
        masks, naming the case; a grouping that does not cover a case.

    Examples
    --------
    >>> ref = np.zeros((8, 8), np.int64); ref[2:6, 2:6] = 1
    >>> ev = evaluate_arrays([("a", ref, np.roll(ref, 1, axis=1))], LabelSet.from_count(2),
    ...                      spacing=(0.5, 0.5))
    >>> ev.document().per_case[0].hd95, ev.distance_unit, ev.lesions.pooled[0].tp
    ({'class_1': 0.5}, 'mm', 1)
    """
    k = labels.num_classes
    ids: list[str] = []
    mats: list[np.ndarray] = []
    dists: list[list[BoundaryMetrics]] = []
    found: list[LesionDetection] = []
    for cid, ref, pred in cases:
        try:
            mats.append(confusion_matrix(ref, pred, k))
            sp = _spacing_for(spacing, cid)
            if distances:
                dists.append(_case_distances(ref, pred, k, sp, distance))
            if lesions is not None:
                found.extend(detect_lesions(
                    ref, pred, k, spacing=sp, connectivity=lesions.connectivity,
                    iou_threshold=lesions.iou_threshold, min_size=lesions.min_size, case_id=cid))
        except ValueError as exc:
            raise ValueError(f"case {cid}: {exc}") from exc
        ids.append(cid)
    lesion_ev = None if lesions is None else LesionEvaluation(
        lesions, tuple(found), summarise_lesions(found, size_bins=lesions.size_bins))
    return Evaluation(labels, ids, mats, distances=dists if distances else None,
                      distance_unit="px" if spacing is None else "mm", distance_settings=distance,
                      lesions=lesion_ev, bootstrap=bootstrap,
                      groups=None if groups is None else tuple(case_groups(ids, groups)),
                      notes=tuple(notes))


def _spacing_for(spacing: Spacing, case_id: str) -> Sequence[float] | None:
    """The spacing of one case: shared, looked up by case id, or ``None`` (1.0 per axis)."""
    if not isinstance(spacing, Mapping):
        return spacing
    if case_id not in spacing:
        raise ValueError(f"no spacing given for this case (spacing is a mapping of "
                         f"{len(spacing)} case id(s))")
    return spacing[case_id]


def _case_distances(ref: np.ndarray, pred: np.ndarray, k: int, spacing: Sequence[float] | None,
                    settings: DistanceSettings) -> list[BoundaryMetrics]:
    """HD95, ASSD and NSD of each foreground class ``1..k-1`` of one case, under ``settings``."""
    return [boundary_metrics(ref == c, pred == c, spacing, settings.tolerance_mm,
                             hd_convention=settings.hd_convention,
                             nsd_surface=settings.nsd_surface)
            for c in range(1, k)]


