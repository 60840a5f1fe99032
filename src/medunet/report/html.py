"""A single self-contained HTML evaluation report (inline CSS and base64 PNG figures)."""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medunet.io.atomic import atomic_write_text
from medunet.report import figures, overlays
from medunet.report.gallery import GalleryItem
from medunet.report.tables import fmt, per_case_section, per_class_section, summary_section

if TYPE_CHECKING:  # the report renders the document; it never builds one
    from medunet.evaluation.document import MetricsDocument

logger = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
.warn { background: #fff4e5; border-left: 4px solid #f0a030; padding: .5rem .8rem; }
.meta { color: #555; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
"""


def _img(png: bytes, alt: str) -> str:
    """An inline ``<img>`` with the PNG as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">\n'


def _header(doc: MetricsDocument, title: str) -> str:
    """Title and what was evaluated."""
    labels = ", ".join(f"{v}: {n}" for v, n in zip(doc.labels.values, doc.labels.names,
                                                     strict=True))
    return (
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="meta">{fmt(doc.num_cases)} cases &middot; labels: '
        f"{html.escape(labels)}</p>\n"
    )


def _distribution_figures(doc: MetricsDocument) -> list[str]:
    """Per-case Dice and (with distances) HD95 distributions of the foreground classes."""
    foreground, rows = doc.labels.names[1:], doc.per_case
    if not rows or not foreground:
        return []
    png = figures.dice_distribution_figure({n: [r.dice[n] for r in rows] for n in foreground})
    parts = ["<h2>Per-case Dice distribution</h2>\n" + _img(png, "per-case Dice")]
    if rows[0].hd95 is not None:
        hd = {n: [None if r.hd95 is None else r.hd95[n] for r in rows] for n in foreground}
        png = figures.distance_distribution_figure(hd, metric="HD95", unit=str(doc.distance_unit))
        parts.append("<h2>Per-case HD95 distribution</h2>\n" + _img(png, "per-case HD95"))
    return parts


def _figures(
    doc: MetricsDocument,
    gallery: list[GalleryItem] | None,
    extra: Mapping[str, bytes] | None,
) -> str:
    """Every figure section, each as an inline PNG under a heading."""
    names = list(doc.labels.names)
    png = figures.confusion_figure(np.asarray(doc.pooled.confusion_matrix), names)
    parts = ["<h2>Confusion matrix</h2>\n" + _img(png, "confusion matrix")]
    parts += _distribution_figures(doc)
    if gallery:
        png = overlays.overlay_figure(gallery, names=dict(zip(doc.labels.values, names,
                                                              strict=True)))
        caption = "<p>Solid: reference; dashed: prediction.</p>\n"
        parts.append("<h2>Gallery</h2>\n" + caption + _img(png, "overlay gallery"))
    for heading, png in (extra or {}).items():
        parts.append(f"<h2>{html.escape(heading)}</h2>\n" + _img(png, heading))
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
    gallery: list[GalleryItem] | None = None,
    title: str = "medunet evaluation",
    extra_figures: Mapping[str, bytes] | None = None,
) -> str:
    """Build the report's HTML text; see :func:`write_report` for the parameters."""
    body = (
        _header(doc, title)
        + summary_section(doc)
        + per_class_section(doc)
        + _figures(doc, gallery, extra_figures)
        + per_case_section(doc)
        + _how_to_read(doc)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def write_report(
    doc: MetricsDocument,
    path: str | os.PathLike[str],
    *,
    gallery: list[GalleryItem] | None = None,
    title: str = "medunet evaluation",
    extra_figures: dict[str, bytes] | None = None,
) -> Path:
    """Write one self-contained HTML evaluation report.

    Figures are inline base64 PNGs and the CSS is inline: the file references nothing
    external and needs no JavaScript. The file is written atomically (temporary file in the
    same directory, then ``os.replace``).

    Parameters
    ----------
    doc : MetricsDocument
        The evaluation's metrics (``Evaluation.document()``); undefined (``None``) values are
        shown as "–".
    path : str or os.PathLike
        Output file; parent directories are created.
    gallery : list of GalleryItem, optional
        Cases for the overlay figure.
    title : str, optional
        Page title and heading.
    extra_figures : dict of str to bytes, optional
        Heading -> PNG bytes, each added under its own heading (e.g. training curves).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If a gallery item's image and masks disagree in shape, or the confusion matrix is not
        (K, K) for the K labels.

    Examples
    --------
    >>> write_report(ev.document(), "runs/x/report.html")  # doctest: +SKIP
    PosixPath('runs/x/report.html')
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(doc, gallery=gallery, title=title, extra_figures=extra_figures)
    atomic_write_text(out, text)
    logger.info("wrote report %s (%d bytes)", out, len(text))
    return out
