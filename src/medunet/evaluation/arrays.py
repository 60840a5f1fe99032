"""Model-free evaluation of label arrays: per-case confusion matrices and boundary metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medunet.data.labels import LabelSet
from medunet.distances import BoundaryMetrics, boundary_metrics
from medunet.evaluation.document import DistanceUnit, MetricsDocument
from medunet.metrics import confusion_matrix, pooled_counts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseFiles:
    """Files of one evaluated case."""

    case_id: str
    pred: Path
    ref: Path
    image: Path | None = None


# eq=False: the fields hold arrays, and an evaluation is compared through its document
@dataclass(frozen=True, eq=False)
class Evaluation:
    """Result of an evaluation: per-case confusion matrices and boundary metrics.

    Immutable; :meth:`document` derives every reported number from it.
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
    #: NSD tolerance, in ``distance_unit``
    nsd_tolerance: float = 1.0

    @property
    def pooled_matrix(self) -> np.ndarray:
        """The ``(K, K)`` confusion matrix of all cases together."""
        return pooled_counts(self.matrices, self.labels.num_classes)

    def document(self) -> MetricsDocument:
        """The typed metrics document: pooled, mean-case and per-case metrics."""
        return MetricsDocument.build(self.labels, self.case_ids, self.matrices, self.distances,
                                     distance_unit=self.distance_unit,
                                     nsd_tolerance=self.nsd_tolerance)

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document (``self.document().to_dict()``)."""
        return self.document().to_dict()


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
    >>> ev.document().per_case[0].hd95, ev.distance_unit
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


