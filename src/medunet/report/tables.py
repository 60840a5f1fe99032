"""The report's tables: summary, per class, empty cases and per case, as escaped HTML."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from medunet.distances import DistanceStat
from medunet.metrics import Stat

if TYPE_CHECKING:  # the report renders the document; it never builds one
    from medunet.evaluation.document import MetricsDocument

__all__ = ["fmt", "per_case_section", "per_class_section", "summary_section"]


def fmt(value: object, digits: int = 3) -> str:
    """Number as text; None/NaN become an en dash."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return "–" if not math.isfinite(number) else f"{number:.{digits}f}"


def _fmt_stat(stat: Stat | None) -> str:
    """``mean ± std (n=..)``, plus ``, k undefined`` for a distance that counts any."""
    if stat is None:
        return "–"
    text = fmt(stat.mean)
    if stat.std is not None and stat.mean is not None:
        text += f" ± {fmt(stat.std)}"
    undefined = isinstance(stat, DistanceStat) and stat.undefined
    return f"{text} (n={fmt(stat.n)}{f', {fmt(undefined)} undefined' if undefined else ''})"


def distance_titles(doc: MetricsDocument) -> list[str]:
    """Column titles of HD95, ASSD and NSD; none when the document has no distances."""
    if doc.mean_case is None or doc.mean_case.boundary is None:
        return []
    unit, tol = str(doc.distance_unit), fmt(doc.nsd_tolerance, 2)
    return [f"HD95 ({unit})", f"ASSD ({unit})", f"NSD @ {tol} {unit}"]


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table; every cell is escaped here."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def summary_section(doc: MetricsDocument) -> str:
    """Headline table and the class-imbalance warning."""
    pooled, mean = doc.pooled, doc.mean_case
    avg = pooled.headline_average
    rows = [
        ("Pooled pixel accuracy", fmt(pooled.accuracy)),
        ("Accuracy of predicting background everywhere", fmt(pooled.background_accuracy)),
        (f"Pooled precision ({avg})", fmt(pooled.precision)),
        (f"Pooled recall ({avg})", fmt(pooled.recall)),
        (f"Pooled F1 ({avg})", fmt(pooled.f1)),
        ("Pooled foreground Dice", fmt(pooled.foreground_dice)),
        ("Mean-case foreground Dice ± std", _fmt_stat(mean.foreground_dice if mean else None)),
        (
            "Mean-case foreground Dice, cases with foreground only",
            _fmt_stat(mean.foreground_dice_present if mean else None),
        ),
        ("Mean-case pixel accuracy ± std", _fmt_stat(mean.accuracy if mean else None)),
    ]
    warning = (
        '<p class="warn"><strong>Class imbalance:</strong> a model that predicts background '
        f"everywhere already reaches a pixel accuracy of {fmt(pooled.background_accuracy)}. "
        "Accuracy near that value says nothing about the segmentation; judge the model by Dice, "
        f"precision and recall. Precision/recall/F1 above are the headline ({html.escape(avg)}).</p>\n"
    )
    return "<h2>Summary</h2>\n" + _table(("metric", "value"), rows) + warning


def _class_row(doc: MetricsDocument, name: str, distances: bool) -> list[str]:
    """One class: pooled metrics, mean-case Dice and, with ``distances``, the boundary metrics."""
    pc, mean = doc.pooled.per_class[name], doc.mean_case
    row = [name] + [fmt(v) for v in (pc.precision, pc.recall, pc.f1, pc.iou, pc.specificity,
                                     pc.support)]
    if mean is None:
        return row + ["–", "–"]
    row += [_fmt_stat(mean.dice.get(name)), _fmt_stat(mean.dice_present.get(name))]
    if distances and mean.boundary is not None:
        b = mean.boundary
        row += [_fmt_stat(per_class.get(name)) for per_class in (b.hd95, b.assd, b.nsd)]
    return row


def per_class_section(doc: MetricsDocument) -> str:
    """Per-class pooled and mean-case table."""
    header = ["class", "precision", "recall", "F1 / Dice", "IoU", "specificity", "support"]
    header += ["mean-case Dice", "mean-case Dice, present only"]
    dist = distance_titles(doc)
    header += [f"mean-case {title}" for title in dist]
    rows = [_class_row(doc, name, bool(dist)) for name in doc.labels.names]
    note = "<p>Precision to support are pooled over all pixels of all cases.</p>\n"
    if dist:
        note += (
            "<p>Boundary metrics (HD95, ASSD, NSD) are per foreground class, averaged over the "
            "cases where they are defined; <em>undefined</em> counts cases where exactly one of "
            "reference and prediction is empty (no distance exists).</p>\n" + _empty_cases(doc)
        )
    return "<h2>Per class</h2>\n" + _table(header, rows) + note


def _empty_cases(doc: MetricsDocument) -> str:
    """Table of the cases with an empty reference and/or prediction, per foreground class."""
    counts = doc.mean_case.empty_cases if doc.mean_case is not None else None
    if not counts:
        return ""
    header = ["class", "both empty (HD95 = 0, NSD = 1)", "only reference empty",
              "only prediction empty"]
    rows = [[name, fmt(c.both_empty), fmt(c.reference_empty), fmt(c.prediction_empty)]
            for name, c in counts.items()]
    return _table(header, rows)


def per_case_section(doc: MetricsDocument) -> str:
    """One row per case: accuracy, Dice per class, HD95 and NSD per foreground class."""
    names: Sequence[str] = doc.labels.names
    rows = doc.per_case
    first = rows[0].hd95 if rows and distance_titles(doc) else None
    fg = list(first) if first is not None else []
    table = [
        [row.case, fmt(row.accuracy)]
        + [fmt(row.dice[n]) for n in names]
        + [fmt(values[n]) for values in (row.hd95, row.nsd) if values is not None for n in fg]
        for row in rows
    ]
    unit = str(doc.distance_unit)
    header = ["case", "accuracy"] + [f"Dice {n}" for n in names]
    header += [f"HD95 {n} ({unit})" for n in fg] + [f"NSD {n}" for n in fg]
    return "<h2>Per case</h2>\n" + _table(header, table)
