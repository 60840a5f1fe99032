"""Lesion-wise results keyed by class name: the ``metrics.json`` block and the ``lesions.csv`` rows.

:class:`~medunet.evaluation.lesions.LesionEvaluation` keys its results by integer label; what
an evaluation writes names the classes, as every other block of ``metrics.json`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medunet.evaluation.lesion_results import LesionDetection
from medunet.evaluation.lesions import LesionEvaluation

__all__ = ["LESION_CSV_COLUMNS", "lesion_block", "lesion_counts", "lesion_csv_rows"]

#: per case and class in ``metrics.json["lesions"]["per_case"]``, metric -> class -> value
_CASE_KEYS = ("tp", "fp", "fn", "sensitivity", "precision", "f1", "dropped_reference",
              "dropped_predicted")

#: the columns of ``lesions.csv``: one row per reference lesion and per false positive
LESION_CSV_COLUMNS = ("case", "class", "kind", "lesion_id", "pred_id", "size_voxels", "size",
                      "volume_unit", "detected", "iou", "dice", "volume_error",
                      "relative_volume_error")


def lesion_counts(lesions: LesionEvaluation) -> dict[tuple[str, int], LesionDetection]:
    """The detection of each ``(case id, label)``."""
    return {(d.case_id, d.label): d for d in lesions.per_case}


def lesion_block(lesions: LesionEvaluation, names: Sequence[str],
                 case_ids: Sequence[str]) -> dict[str, Any]:
    """``metrics.json["lesions"]``: settings, pooled per class name, per case (aligned with
    ``metrics.json["per_case"]``) metric -> class name -> value. Per-lesion details are in
    ``lesions.csv``."""
    pooled = {}
    for s in lesions.pooled:
        entry = s.to_dict()
        del entry["label"]
        pooled[names[s.label]] = entry
    by_key = lesion_counts(lesions)
    labels = [s.label for s in lesions.pooled]
    per_case = []
    for cid in case_ids:
        row: dict[str, Any] = {"case": cid}
        for key in _CASE_KEYS:
            row[key] = {names[lab]: getattr(by_key[cid, lab], key) for lab in labels
                        if (cid, lab) in by_key}
        per_case.append(row)
    return {"settings": lesions.settings.to_dict(), "pooled": pooled, "per_case": per_case}


def lesion_csv_rows(lesions: LesionEvaluation, names: Sequence[str]) -> list[list[object]]:
    """The rows of ``lesions.csv`` (:data:`LESION_CSV_COLUMNS`), by case then class: each
    reference lesion (``kind`` "lesion"), then each false positive (``kind``
    "false_positive"); an undefined value is an empty cell."""
    rows: list[list[object]] = []
    for d in lesions.per_case:
        name = names[d.label]
        for les in d.lesions:
            rows.append([d.case_id, name, "lesion", les.lesion_id, les.pred_id, les.size_voxels,
                         les.size, d.volume_unit, les.detected, les.iou, les.dice,
                         les.volume_error, les.relative_volume_error])
        for fp in d.false_positives:
            rows.append([d.case_id, name, "false_positive", None, fp.pred_id, fp.size_voxels,
                         fp.size, d.volume_unit, None, None, None, None, None])
    return [["" if v is None else v for v in row] for row in rows]
