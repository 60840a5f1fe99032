"""The report's tables: summary, per class (with the distance conventions), empty cases and the
sortable per-case table, as escaped HTML; confidence intervals beside the numbers they qualify
(marked "unreliable (n < 10)" when fewer than ten cases or groups were resampled)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from medunet.distances import DistanceStat
from medunet.evaluation.intervals import MIN_RELIABLE_UNITS, ConfidenceInterval
from medunet.evaluation.lesion_doc import lesion_counts
from medunet.metrics import Stat
from medunet.report.markup import Raw, fmt, number, table

if TYPE_CHECKING:  # the report renders the document; it never builds one
    from medunet.evaluation.document import CaseRow, MetricsDocument

__all__ = ["ci_span", "conventions_text", "distance_titles", "fmt", "per_case_section",
           "per_class_section", "summary_section", "with_ci"]

_HD_TEXT = {"union": "the 95th percentile of the union of both directed boundary-distance sets "
                     "(as MedPy)",
            "max_directed": "the larger of the two directed 95th percentiles (as MONAI)"}
_NSD_TEXT = {"voxel": "boundary voxels counted one each",
             "surfel": "surface elements weighted by their area (as DeepMind's surface-distance "
                       "and MONAI with use_subvoxels)"}


def _fmt_stat(stat: Stat | None) -> str:
    """``mean ± std (n=..)``, plus ``, k undefined`` for a distance that counts any."""
    if stat is None:
        return "–"
    text = fmt(stat.mean)
    if stat.std is not None and stat.mean is not None:
        text += f" ± {fmt(stat.std)}"
    undefined = isinstance(stat, DistanceStat) and stat.undefined
    return f"{text} (n={fmt(stat.n)}{f', {fmt(undefined)} undefined' if undefined else ''})"


def ci_span(ci: ConfidenceInterval | None) -> str:
    """The interval as a ``<span>`` whose tooltip names level, method, units and notes."""
    if ci is None:
        return ""
    tip = (f"{ci.level:.0%} {ci.method} interval over {ci.n_units} {ci.unit}s, "
           f"{ci.n_resamples} resamples, seed {ci.seed}" + (f"; {ci.note}" if ci.note else ""))
    if ci.low is None or ci.high is None:
        return f'<span class="ci" title="{html.escape(tip)}">–</span>'
    cls = "ci" if ci.reliable else "ci unreliable"
    # the interval never breaks inside; the warning may go to the next line of a narrow cell
    flag = "" if ci.reliable else f" unreliable (n &lt; {MIN_RELIABLE_UNITS})"
    return (f'<span class="{cls}" title="{html.escape(tip)}"><span class="nw">[{fmt(ci.low)}, '
            f"{fmt(ci.high)}]</span>{flag}</span>")


def with_ci(text: str, ci: ConfidenceInterval | None) -> str:
    """A cell: the value, and its interval on a second line when there is one."""
    return Raw(html.escape(text) + ("<br>" + ci_span(ci) if ci is not None else ""))


def _intervals(doc: MetricsDocument) -> Mapping[str, ConfidenceInterval]:
    return doc.intervals or {}


def distance_titles(doc: MetricsDocument) -> list[str]:
    """Column titles of HD95, ASSD and NSD; none when the document has no distances."""
    if doc.mean_case is None or doc.mean_case.boundary is None:
        return []
    unit, tol = str(doc.distance_unit), fmt(doc.nsd_tolerance, 2)
    return [f"HD95 ({unit})", f"ASSD ({unit})", f"NSD @ {tol} {unit}"]


def summary_section(doc: MetricsDocument) -> str:
    """Headline table (with intervals when the document has them) and the class-imbalance warning."""
    pooled, mean, cis = doc.pooled, doc.mean_case, _intervals(doc)
    avg = pooled.headline_average
    rows: list[tuple[str, str, str | None]] = [
        ("Pooled pixel accuracy", fmt(pooled.accuracy), "pooled.accuracy"),
        ("Accuracy of predicting background everywhere", fmt(pooled.background_accuracy), None),
        (f"Pooled precision ({avg})", fmt(pooled.precision), "pooled.precision"),
        (f"Pooled recall ({avg})", fmt(pooled.recall), "pooled.recall"),
        (f"Pooled F1 ({avg})", fmt(pooled.f1), "pooled.f1"),
        ("Pooled foreground Dice", fmt(pooled.foreground_dice), "pooled.foreground_dice"),
        ("Mean-case foreground Dice ± std", _fmt_stat(mean.foreground_dice if mean else None),
         "mean_case.foreground_dice"),
        ("Mean-case foreground Dice, cases with foreground only",
         _fmt_stat(mean.foreground_dice_present if mean else None), None),
        ("Mean-case pixel accuracy ± std", _fmt_stat(mean.accuracy if mean else None), None),
    ]
    header: list[str] = ["metric", "value"]
    body: list[list[str]] = [[name, value] for name, value, _ in rows]
    if cis:
        level = next(iter(cis.values())).level
        header.append(f"{level:.0%} CI")
        body = [[name, value, Raw(ci_span(cis.get(key)) if key else "")]
                for name, value, key in rows]
    warning = (
        '<p class="warn"><strong>Class imbalance:</strong> a model that predicts background '
        f"everywhere already reaches a pixel accuracy of {fmt(pooled.background_accuracy)}. "
        "Accuracy near that value says nothing about the segmentation; judge the model by Dice, "
        f"precision and recall. Precision/recall/F1 above are the headline ({html.escape(avg)}).</p>\n"
    )
    return '<h2 id="summary">Summary</h2>\n' + table(header, body, cls="headline") + warning


def _class_row(doc: MetricsDocument, name: str, distances: bool) -> list[str]:
    """One class: pooled metrics, mean-case Dice and, with ``distances``, the boundary metrics."""
    pc, mean, cis = doc.pooled.per_class[name], doc.mean_case, _intervals(doc)
    row: list[str] = [name] + [fmt(v) for v in (pc.precision, pc.recall)]
    row += [with_ci(fmt(pc.f1), cis.get(f"pooled.dice.{name}"))]
    row += [fmt(v) for v in (pc.iou, pc.specificity, pc.support)]
    if mean is None:
        return row + ["–", "–"]
    row += [with_ci(_fmt_stat(mean.dice.get(name)), cis.get(f"mean_case.dice.{name}")),
            _fmt_stat(mean.dice_present.get(name))]
    if distances and mean.boundary is not None:
        b = mean.boundary
        row += [with_ci(_fmt_stat(b.hd95.get(name)), cis.get(f"mean_case.hd95.{name}")),
                _fmt_stat(b.assd.get(name)),
                with_ci(_fmt_stat(b.nsd.get(name)), cis.get(f"mean_case.nsd.{name}"))]
    return row


def conventions_text(doc: MetricsDocument) -> str:
    """The named distance conventions of the document, as a paragraph (empty without them)."""
    s = doc.distance_settings
    if s is None:
        return ""
    unit = html.escape(str(doc.distance_unit))
    return (f'<p class="conventions"><strong>Distance conventions:</strong> HD95 '
            f"<code>{html.escape(s.hd_convention)}</code> ({html.escape(_HD_TEXT[s.hd_convention])}); "
            f"NSD surface <code>{html.escape(s.nsd_surface)}</code> "
            f"({html.escape(_NSD_TEXT[s.nsd_surface])}); NSD tolerance "
            f"{fmt(s.tolerance_mm, 2)} {unit}.</p>\n")


def per_class_section(doc: MetricsDocument) -> str:
    """Per-class pooled and mean-case table, the distance conventions and empty-case counts."""
    header = ["class", "precision", "recall", "F1 / Dice", "IoU", "specificity", "support"]
    header += ["mean-case Dice", "mean-case Dice, present only"]
    dist = distance_titles(doc)
    header += [f"mean-case {title}" for title in dist]
    rows = [_class_row(doc, name, bool(dist)) for name in doc.labels.names]
    note = "<p>Precision to support are pooled over all pixels of all cases.</p>\n"
    if dist:
        note += (
            conventions_text(doc)
            + "<p>Boundary metrics (HD95, ASSD, NSD) are per foreground class, averaged over the "
            "cases where they are defined; <em>undefined</em> counts cases where exactly one of "
            "reference and prediction is empty (no distance exists).</p>\n" + _empty_cases(doc)
        )
    return '<h2 id="per-class">Per class</h2>\n' + table(header, rows) + note


def _empty_cases(doc: MetricsDocument) -> str:
    """Table of the cases with an empty reference and/or prediction, per foreground class."""
    counts = doc.mean_case.empty_cases if doc.mean_case is not None else None
    if not counts:
        return ""
    header = ["class", "both empty (HD95 = 0, NSD = 1)", "only reference empty",
              "only prediction empty"]
    rows = [[name, fmt(c.both_empty), fmt(c.reference_empty), fmt(c.prediction_empty)]
            for name, c in counts.items()]
    return table(header, rows)


def _case_cell(row: CaseRow, anchor: str | None) -> str:
    """The case id, linked to its gallery panel when it has one."""
    text = html.escape(row.case)
    return Raw(f'<a href="#{anchor}">{text}</a>' if anchor else text)


def per_case_section(doc: MetricsDocument, anchors: Mapping[int, str] | None = None) -> str:
    """One row per case (``id="row-<i>"``): foreground Dice, accuracy, Dice per class, HD95 and
    NSD per foreground class, missed and false-positive lesions per class; a case shown in the
    gallery links to its panel (``anchors``: row index -> element id). Sortable with JavaScript:
    every numeric cell carries its exact value in ``data-v``."""
    names: Sequence[str] = doc.labels.names
    rows, links = doc.per_case, anchors or {}
    fg = list(names[1:]) if rows and distance_titles(doc) else []
    found = lesion_counts(doc.lesions) if doc.lesions is not None else {}
    lesion_labels = [s.label for s in doc.lesions.pooled] if doc.lesions is not None else []
    table_rows = []
    for i, row in enumerate(rows):
        cells = [_case_cell(row, links.get(i)), number(row.foreground_dice),
                 number(row.accuracy)] + [number(row.dice[n]) for n in names]
        cells += [number(values[n]) for values in (row.hd95, row.nsd) if values is not None
                  for n in fg]
        for lab in lesion_labels:
            det = found.get((row.case, lab))
            cells += [number(det.fn if det else None), number(det.fp if det else None)]
        table_rows.append(cells)
    unit = str(doc.distance_unit)
    header = ["case", "foreground Dice", "accuracy"] + [f"Dice {n}" for n in names]
    header += [f"HD95 {n} ({unit})" for n in fg] + [f"NSD {n}" for n in fg]
    for lab in lesion_labels:
        header += [f"missed lesions {names[lab]}", f"false-positive lesions {names[lab]}"]
    hint = ('<p class="meta js-only" hidden>Click a column title to sort; click again to reverse.'
            "</p>\n")
    return ('<h2 id="per-case">Per case</h2>\n' + hint
            + table(header, table_rows, cls="sortable", row_ids=[f"row-{i}" for i in range(len(rows))]))
