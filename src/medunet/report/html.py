"""A single self-contained HTML evaluation report: inline CSS, base64 PNG figures, one inline script.

The page loads nothing: a Content-Security-Policy forbids every external resource, the CSS
(``report.css``) and the script (:data:`~medunet.report.scroller.SCRIPT`: sortable tables and
slice scrollers) are inline, figures are data URIs. Everything but scrolling through slices
and sorting works with JavaScript off.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medunet.io.atomic import atomic_write_text
from medunet.report import figures
from medunet.report.extras import ReportExtras
from medunet.report.gallery import GalleryItem
from medunet.report.gallery_section import gallery_section
from medunet.report.lesion_section import lesion_section
from medunet.report.markup import details, fmt, img, table
from medunet.report.scroller import SCRIPT
from medunet.report.selection_section import selection_section, validation_notes
from medunet.report.tables import per_case_section, per_class_section, summary_section

if TYPE_CHECKING:  # the report renders the document; it never builds one
    from medunet.evaluation.document import MetricsDocument

logger = logging.getLogger(__name__)

#: the browser refuses anything the page would load from elsewhere
_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'")


@cache
def _css() -> str:
    """The report's style sheet (package data)."""
    return resources.files("medunet.report").joinpath("report.css").read_text(encoding="utf-8")


def _header(doc: MetricsDocument, title: str) -> str:
    """Title, what was evaluated, a table of contents and the document's notes."""
    labels = ", ".join(f"{v}: {n}" for v, n in zip(doc.labels.values, doc.labels.names,
                                                     strict=True))
    links = [("summary", "Summary"), ("per-class", "Per class")]
    links += [("lesions", "Lesions")] if doc.lesions is not None and doc.lesions.pooled else []
    links += [("figures", "Figures"), ("gallery", "Gallery"), ("per-case", "Per case")]
    toc = " ".join(f'<a href="#{a}">{t}</a>' for a, t in links)
    notes = "".join(f"<li>{html.escape(n)}</li>\n" for n in doc.notes)
    return (
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="meta">{fmt(doc.num_cases)} cases &middot; labels: '
        f"{html.escape(labels)}</p>\n<nav class=\"toc\">{toc}</nav>\n"
        + (f'<div class="notes"><strong>Notes</strong><ul>\n{notes}</ul></div>\n' if notes else "")
    )


def _distribution_figures(doc: MetricsDocument) -> list[str]:
    """Per-case Dice and (with distances) HD95 distributions of the foreground classes."""
    foreground, rows = doc.labels.names[1:], doc.per_case
    if not rows or not foreground:
        return []
    png = figures.dice_distribution_figure({n: [r.dice[n] for r in rows] for n in foreground})
    parts = ["<div><h2>Per-case Dice distribution</h2>\n" + img(png, "per-case Dice") + "</div>"]
    if rows[0].hd95 is not None:
        hd = {n: [None if r.hd95 is None else r.hd95[n] for r in rows] for n in foreground}
        png = figures.distance_distribution_figure(hd, metric="HD95", unit=str(doc.distance_unit))
        parts.append("<div><h2>Per-case HD95 distribution</h2>\n" + img(png, "per-case HD95")
                     + "</div>")
    return ['<div class="figrow">\n' + "\n".join(parts) + "</div>\n"]


def _figures(doc: MetricsDocument) -> str:
    """The confusion matrix and the per-case distributions, each as an inline PNG."""
    names = list(doc.labels.names)
    png = figures.confusion_figure(np.asarray(doc.pooled.confusion_matrix), names)
    parts = ['<h2 id="figures">Confusion matrix</h2>\n' + img(png, "confusion matrix")]
    parts += _distribution_figures(doc)
    return "".join(parts)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested plain data as ``(dotted key, compact JSON value)`` rows."""
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, json.dumps(value, separators=(", ", ": "), default=str)))
    return rows


def _training(extras: ReportExtras | None) -> str:
    """The training run's figures, plan (a table) and model card (text), collapsible."""
    if extras is None or not (extras.figures or extras.plan or extras.model_card):
        return ""
    parts = ['<h2 id="training">Training run</h2>\n']
    for heading, png in extras.figures.items():
        parts.append(f"<h3>{html.escape(heading)}</h3>\n" + img(png, heading))
    if extras.plan:
        parts.append(details("Plan", table(("setting", "value"), _flatten(extras.plan),
                                           cls="plan")))
    if extras.model_card:
        card = f'<pre class="model-card">{html.escape(extras.model_card)}</pre>\n'
        parts.append(details("Model card", card))
    return "".join(parts)


def _how_to_read(doc: MetricsDocument) -> str:
    """The metric policy, copied from the document."""
    items = "".join(
        f"<li><strong>{html.escape(key.replace('_', ' '))}:</strong> {html.escape(text)}</li>\n"
        for key, text in doc.policy.items()
    )
    generic = (
        "<li><strong>pooled vs mean-case:</strong> pooled metrics add up the pixels of all cases "
        "before computing, so large cases weigh more; mean-case metrics compute one value per case "
        "and average them, so every case weighs the same. A dash (–) means the value is undefined, "
        "e.g. no case contains that class.</li>\n"
    )
    return f"<h2>How to read these numbers</h2>\n<ul>\n{items}{generic}</ul>\n"


def render_report(
    doc: MetricsDocument,
    *,
    gallery: Sequence[GalleryItem] | None = None,
    title: str = "medunet evaluation",
    extras: ReportExtras | None = None,
) -> str:
    """Build the report's HTML text; see :func:`write_report` for the parameters."""
    shown, anchors = gallery_section(doc, gallery or [])
    body = (
        _header(doc, title)
        + validation_notes(extras)
        + summary_section(doc)
        + per_class_section(doc)
        + lesion_section(doc)
        + _figures(doc)
        + shown
        + per_case_section(doc, anchors)
        + _training(extras)
        + selection_section(extras)
        + _how_to_read(doc)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_css()}</style>\n</head>\n"
        f"<body>\n{body}<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_report(
    doc: MetricsDocument,
    path: str | os.PathLike[str],
    *,
    gallery: Sequence[GalleryItem] | None = None,
    title: str = "medunet evaluation",
    extras: ReportExtras | None = None,
) -> Path:
    """Write one self-contained HTML evaluation report.

    Figures are inline base64 PNGs, the CSS and the one script are inline and a
    Content-Security-Policy forbids loading anything else: the file references nothing
    external. JavaScript only sorts the per-case table and scrolls through the slices of a
    volume; everything else reads the same without it. The file is written atomically
    (temporary file in the same directory, then ``os.replace``).

    Parameters
    ----------
    doc : MetricsDocument
        The evaluation's metrics (``Evaluation.document()``); undefined (``None``) values are
        shown as "–".
    path : str or os.PathLike
        Output file; parent directories are created.
    gallery : sequence of GalleryItem, optional
        Cases for the gallery (:func:`~medunet.report.gallery.pick_gallery`): per case the
        image, reference and predicted contours, an error map (false positives orange, false
        negatives sky blue) and, with lesion results, each lesion marked detected or missed;
        volumes also get a slice scroller. The per-case table links each shown case to it.
    title : str, optional
        Page title and heading.
    extras : ReportExtras, optional
        A training run's figures (each under its own heading, e.g. the training curves), plan
        (a table) and model card (text), in collapsible sections; its validation notes (under
        the title) and model selection and post-processing (a section).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If a gallery item's image and masks disagree in shape (naming the case), or the
        confusion matrix is not (K, K) for the K labels.

    Examples
    --------
    >>> write_report(ev.document(), "runs/x/report.html")  # doctest: +SKIP
    PosixPath('runs/x/report.html')
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(doc, gallery=gallery, title=title, extras=extras)
    atomic_write_text(out, text)
    logger.info("wrote report %s (%d bytes)", out, len(text))
    return out
