"""The lesion-wise section: detection per class, by lesion size, and the matching rule used."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from medunet.evaluation.lesion_results import LesionSummary, SizeBin
from medunet.report.markup import fmt, img, table
from medunet.report.png import DPI, to_png
from medunet.report.tables import with_ci

if TYPE_CHECKING:  # the report renders the document; it never builds one
    from medunet.evaluation.document import MetricsDocument

__all__ = ["bin_label", "lesion_section", "size_bin_figure"]

_UNIT_TEXT = {"mm3": "mm³", "mm2": "mm²", "voxels": "voxels"}


def bin_label(b: SizeBin) -> str:
    """``[10, 100)``, or ``≥ 1000`` for the open last bin."""
    if not math.isfinite(b.upper):
        return f"≥ {b.lower:g}"
    return f"[{b.lower:g}, {b.upper:g})"


def size_bin_figure(summaries: list[LesionSummary], names: list[str]) -> bytes:
    """Bar chart of the detection rate by reference lesion size, one group of bars per class.

    Parameters
    ----------
    summaries : list of LesionSummary
        Pooled detection per class (all with the same size bins).
    names : list of str
        Class name per label value.

    Returns
    -------
    bytes
        PNG image; each bar is annotated ``detected/lesions``, an empty bin has no bar.
    """
    bins = summaries[0].size_bins
    width = 0.8 / len(summaries)
    fig = Figure(figsize=(max(5.0, 1.3 * len(bins) + 2.0), 3.2), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(bins))
    for k, s in enumerate(summaries):
        rates = [b.detection_rate if b.detection_rate is not None else np.nan for b in s.size_bins]
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, rates, width=width * 0.9, label=names[s.label])
        for p, b in zip(pos, s.size_bins, strict=True):
            if b.lesions:
                ax.text(p, (b.detection_rate or 0.0) + 0.02, f"{b.detected}/{b.lesions}",
                        ha="center", va="bottom", fontsize=7, parse_math=False)
    ax.set_xticks(x, labels=[bin_label(b) for b in bins])
    ax.set_ylim(0.0, 1.15)
    ax.set_ylabel("detection rate")
    ax.set_xlabel(f"reference lesion size ({_UNIT_TEXT.get(summaries[0].volume_unit, '')})")
    ax.set_title("Lesions detected, by size")
    if len(summaries) > 1:
        ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return to_png(fig)


def _pooled_rows(doc: MetricsDocument, summaries: list[LesionSummary]) -> list[list[str]]:
    """One row per class: counts, rates with intervals, FP per case and mean lesion Dice."""
    names, cis = doc.labels.names, doc.intervals or {}
    rows = []
    for s in summaries:
        key = f"lesions.{names[s.label]}"
        rows.append([names[s.label], fmt(s.tp + s.fn), fmt(s.tp), fmt(s.fp), fmt(s.fn),
                     with_ci(fmt(s.sensitivity), cis.get(f"{key}.sensitivity")),
                     with_ci(fmt(s.precision), cis.get(f"{key}.precision")),
                     with_ci(fmt(s.f1), cis.get(f"{key}.f1")), fmt(s.fp_per_case, 2),
                     fmt(s.mean_dice_detected)])
    return rows


def _bin_rows(doc: MetricsDocument, summaries: list[LesionSummary]) -> list[list[str]]:
    """One row per class: ``detected / lesions (rate)`` per size bin."""
    names = doc.labels.names
    rows = []
    for s in summaries:
        cells = [f"{b.detected} / {b.lesions} ({fmt(b.detection_rate, 2)})" if b.lesions else "–"
                 for b in s.size_bins]
        rows.append([names[s.label], *cells])
    return rows


def lesion_section(doc: MetricsDocument) -> str:
    """The lesion section of the report, or ``""`` when the document has no lesion results."""
    if doc.lesions is None or not doc.lesions.pooled:
        return ""
    summaries = list(doc.lesions.pooled)
    st = doc.lesions.settings
    unit = _UNIT_TEXT.get(summaries[0].volume_unit, summaries[0].volume_unit)
    header = ["class", "reference lesions", "TP", "FP", "FN", "sensitivity", "precision",
              "F1", "FP per case", "mean Dice, detected"]
    bins = [f"{bin_label(b)} {unit}" for b in summaries[0].size_bins]
    rule = (f"<p>A reference lesion (connected component, connectivity "
            f"<code>{html.escape(st.connectivity)}</code>) is detected when a predicted "
            f"component overlaps it with IoU &gt; {fmt(st.iou_threshold, 2)} (one-to-one, "
            f"largest total IoU); components under {fmt(st.min_size, 1)} {html.escape(unit)} "
            "are ignored on both sides. Rates pool TP, FP and FN over all cases.</p>\n")
    return ('<h2 id="lesions">Lesion detection</h2>\n' + rule
            + table(header, _pooled_rows(doc, summaries))
            + "<h3>Detection by lesion size</h3>\n"
            + table(["class", *bins], _bin_rows(doc, summaries))
            + img(size_bin_figure(summaries, list(doc.labels.names)), "detection rate by size"))
