"""Lesion-wise detection results: one reference lesion, one case and class, pooled over cases.

Every result is a frozen dataclass whose ``to_dict()`` gives plain JSON-ready data, with
``None`` for what is undefined (a rate whose denominator is zero, the error of a missed lesion,
the upper edge ``inf`` of the last size bin). How lesions are found and matched is in
:mod:`medunet.evaluation.lesion_matching`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["FalsePositive", "Lesion", "LesionDetection", "LesionSummary", "SizeBin", "VolumeUnit"]

#: unit of lesion sizes: mm^3 (3D) or mm^2 (2D) with a spacing, voxel counts without one
VolumeUnit = Literal["mm3", "mm2", "voxels"]


class _Rates:
    """Detection rates from lesion counts ``tp``, ``fp``, ``fn``; ``None`` when undefined."""

    tp: int
    fp: int
    fn: int

    @property
    def sensitivity(self) -> float | None:
        """``TP / (TP + FN)``; ``None`` without reference lesions."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def precision(self) -> float | None:
        """``TP / (TP + FP)``; ``None`` without predicted lesions."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float | None:
        """``2 TP / (2 TP + FP + FN)``, panoptica's RQ; ``None`` without lesions on either side."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def _rates_dict(self) -> dict[str, int | float | None]:
        """Counts and rates as plain data."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "sensitivity": self.sensitivity,
                "precision": self.precision, "f1": self.f1}


def _ratio(num: int, den: int) -> float | None:
    """``num / den``, ``None`` when ``den == 0``."""
    return num / den if den else None


@dataclass(frozen=True)
class Lesion:
    """One reference lesion and its match.

    ``size`` and ``volume_error`` are in the ``volume_unit`` of the :class:`LesionDetection`
    holding the lesion; ``iou`` and ``dice`` are those of the matched pair, 0.0 when missed.
    """

    lesion_id: int
    size_voxels: int
    size: float
    #: id of the matched predicted component, ``None`` when the lesion was missed
    pred_id: int | None = None
    iou: float = 0.0
    dice: float = 0.0
    #: matched predicted size minus ``size``; ``None`` when missed
    volume_error: float | None = None
    #: ``volume_error / size``; ``None`` when missed
    relative_volume_error: float | None = None

    @property
    def detected(self) -> bool:
        """Whether a predicted component was matched to this lesion."""
        return self.pred_id is not None

    def to_dict(self) -> dict[str, int | float | bool | None]:
        """Plain data; ``None`` for what is undefined."""
        return {"lesion_id": self.lesion_id, "size_voxels": self.size_voxels, "size": self.size,
                "detected": self.detected, "pred_id": self.pred_id, "iou": self.iou,
                "dice": self.dice, "volume_error": self.volume_error,
                "relative_volume_error": self.relative_volume_error}


@dataclass(frozen=True)
class FalsePositive:
    """A predicted component matched to no reference lesion."""

    pred_id: int
    size_voxels: int
    size: float

    def to_dict(self) -> dict[str, int | float]:
        """Plain data."""
        return {"pred_id": self.pred_id, "size_voxels": self.size_voxels, "size": self.size}


@dataclass(frozen=True)
class LesionDetection(_Rates):
    """Lesion-wise detection of one class in one case (see :func:`~medunet.evaluation.lesion_matching.match_lesions`)."""

    case_id: str
    label: int
    volume_unit: VolumeUnit
    tp: int
    fp: int
    fn: int
    #: every reference lesion kept after the size filter, by ``lesion_id``
    lesions: tuple[Lesion, ...]
    #: every unmatched predicted component, by ``pred_id``
    false_positives: tuple[FalsePositive, ...]
    #: components removed by ``min_size`` before matching
    dropped_reference: int = 0
    dropped_predicted: int = 0

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (``None`` for undefined rates)."""
        return {"case": self.case_id, "label": self.label, "volume_unit": self.volume_unit,
                **self._rates_dict(),
                "dropped_reference": self.dropped_reference,
                "dropped_predicted": self.dropped_predicted,
                "lesions": [les.to_dict() for les in self.lesions],
                "false_positives": [fp.to_dict() for fp in self.false_positives]}



@dataclass(frozen=True)
class SizeBin:
    """Reference lesions whose size lies in ``[lower, upper)`` and how many were detected."""

    lower: float
    upper: float
    lesions: int
    detected: int

    @property
    def detection_rate(self) -> float | None:
        """``detected / lesions``; ``None`` for an empty bin."""
        return _ratio(self.detected, self.lesions)

    def to_dict(self) -> dict[str, int | float | None]:
        """Plain data; an infinite ``upper`` becomes ``None`` (JSON has no infinity)."""
        return {"lower": self.lower, "upper": self.upper if math.isfinite(self.upper) else None,
                "lesions": self.lesions, "detected": self.detected,
                "detection_rate": self.detection_rate}


@dataclass(frozen=True)
class LesionSummary(_Rates):
    """Lesion-wise detection of one class pooled over cases: counts summed, then rates."""

    label: int
    volume_unit: VolumeUnit
    num_cases: int
    tp: int
    fp: int
    fn: int
    #: mean per-lesion Dice over detected lesions; ``None`` when none was detected
    mean_dice_detected: float | None
    #: mean per-lesion Dice over all reference lesions (a missed one counts 0); ``None`` if none
    mean_dice_all: float | None
    #: detection by reference lesion size (in ``volume_unit``)
    size_bins: tuple[SizeBin, ...]

    @property
    def fp_per_case(self) -> float | None:
        """False positives per case; ``None`` without cases."""
        return _ratio(self.fp, self.num_cases)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (``None`` for undefined values)."""
        return {"label": self.label, "volume_unit": self.volume_unit,
                "num_cases": self.num_cases, **self._rates_dict(),
                "fp_per_case": self.fp_per_case, "mean_dice_detected": self.mean_dice_detected,
                "mean_dice_all": self.mean_dice_all,
                "size_bins": [b.to_dict() for b in self.size_bins]}
