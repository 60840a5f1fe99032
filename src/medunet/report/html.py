"""A single self-contained HTML evaluation report (inline CSS and base64 PNG figures)."""

from __future__ import annotations

import base64
import html
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medunet.io.atomic import atomic_write_text
from medunet.report import figures

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


@dataclass(frozen=True)
class GalleryItem:
    """One case of the overlay gallery.

    Attributes
    ----------
    case_id : str
        Shown in the panel title.
    image : np.ndarray or None
        (C, H, W) or (H, W) intensities; C == 3 is shown as RGB, otherwise the first channel.
    ref : np.ndarray
        (H, W) integer reference labels, 0 = background.
    pred : np.ndarray
        (H, W) integer predicted labels.
    dice : float
        The case's foreground Dice, shown in the title.
    """

    case_id: str
    image: np.ndarray | None
    ref: np.ndarray
    pred: np.ndarray
    dice: float


def _fmt(value: Any, digits: int = 3) -> str:
    """Number as text; None/NaN become an en dash."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "–" if not math.isfinite(number) else f"{number:.{digits}f}"


def _fmt_stat(stat: Mapping[str, Any] | None) -> str:
    """``mean ± std (n=..)`` from a summary dict, plus ``, k undefined`` when it counts any."""
    if not stat:
        return "–"
    text = _fmt(stat.get("mean"))
    if stat.get("std") is not None and stat.get("mean") is not None:
        text += f" ± {_fmt(stat.get('std'))}"
    undefined = f", {_fmt(stat['undefined'])} undefined" if stat.get("undefined") else ""
    return f"{text} (n={_fmt(stat.get('n'))}{undefined})"


def _distance_headers(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, column title)`` of the boundary metrics present in ``metrics`` (none if absent)."""
    if "hd95" not in metrics.get("mean_case", {}):
        return []
    unit = str(metrics.get("distance_unit", "mm"))
    tol = _fmt(metrics.get("nsd_tolerance"), 2)
    return [("hd95", f"HD95 ({unit})"), ("assd", f"ASSD ({unit})"), ("nsd", f"NSD @ {tol} {unit}")]


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table; every cell is escaped here."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def _img(png: bytes, alt: str) -> str:
    """An inline ``<img>`` with the PNG as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">\n'


def _labels(metrics: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(label value, class name) pairs in label order."""
    return sorted((int(v), str(n)) for v, n in metrics.get("labels", {}).items())


def _header(metrics: Mapping[str, Any], title: str) -> str:
    """Title and what was evaluated."""
    labels = ", ".join(f"{v}: {n}" for v, n in _labels(metrics)) or "–"
    return (
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="meta">{_fmt(metrics.get("num_cases"))} cases &middot; labels: '
        f"{html.escape(labels)}</p>\n"
    )


def _summary(metrics: Mapping[str, Any]) -> str:
    """Headline table and the class-imbalance warning."""
    pooled, mean = metrics.get("pooled", {}), metrics.get("mean_case", {})
    avg = str(pooled.get("headline_average", "–"))
    rows = [
        ("Pooled pixel accuracy", _fmt(pooled.get("accuracy"))),
        ("Accuracy of predicting background everywhere", _fmt(pooled.get("background_accuracy"))),
        (f"Pooled precision ({avg})", _fmt(pooled.get("precision"))),
        (f"Pooled recall ({avg})", _fmt(pooled.get("recall"))),
        (f"Pooled F1 ({avg})", _fmt(pooled.get("f1"))),
        ("Pooled foreground Dice", _fmt(pooled.get("foreground_dice"))),
        ("Mean-case foreground Dice ± std", _fmt_stat(mean.get("foreground_dice"))),
        (
            "Mean-case foreground Dice, cases with foreground only",
            _fmt_stat(mean.get("foreground_dice_present")),
        ),
        ("Mean-case pixel accuracy ± std", _fmt_stat(mean.get("accuracy"))),
    ]
    warning = (
        '<p class="warn"><strong>Class imbalance:</strong> a model that predicts background '
        f"everywhere already reaches a pixel accuracy of {_fmt(pooled.get('background_accuracy'))}. "
        "Accuracy near that value says nothing about the segmentation; judge the model by Dice, "
        f"precision and recall. Precision/recall/F1 above are the headline ({html.escape(avg)}).</p>\n"
    )
    return "<h2>Summary</h2>\n" + _table(("metric", "value"), rows) + warning


def _per_class(metrics: Mapping[str, Any], names: list[str]) -> str:
    """Per-class pooled and mean-case table."""
    per_class = metrics.get("pooled", {}).get("per_class", {})
    mean = metrics.get("mean_case", {})
    keys = ("precision", "recall", "f1", "iou", "specificity", "support")
    header = ["class", "precision", "recall", "F1 / Dice", "IoU", "specificity", "support"]
    header += ["mean-case Dice", "mean-case Dice, present only"]
    dist = _distance_headers(metrics)
    header += [f"mean-case {title}" for _, title in dist]
    rows = [
        [name]
        + [_fmt(per_class.get(name, {}).get(key)) for key in keys]
        + [_fmt_stat(mean.get(m, {}).get(name)) for m in ("dice", "dice_present")]
        + [_fmt_stat(mean.get(m, {}).get(name)) for m, _ in dist]
        for name in names
    ]
    note = "<p>Precision to support are pooled over all pixels of all cases.</p>\n"
    if dist:
        note += (
            "<p>Boundary metrics (HD95, ASSD, NSD) are per foreground class, averaged over the "
            "cases where they are defined; <em>undefined</em> counts cases where exactly one of "
            "reference and prediction is empty (no distance exists).</p>\n" + _empty_cases(metrics)
        )
    return "<h2>Per class</h2>\n" + _table(header, rows) + note


def _empty_cases(metrics: Mapping[str, Any]) -> str:
    """Table of the cases with an empty reference and/or prediction, per foreground class."""
    counts = metrics.get("mean_case", {}).get("distance_empty_cases", {})
    if not counts:
        return ""
    keys = ("both_empty", "reference_empty", "prediction_empty")
    header = ["class", "both empty (HD95 = 0, NSD = 1)", "only reference empty",
              "only prediction empty"]
    rows = [[str(name)] + [_fmt(c.get(k)) for k in keys] for name, c in counts.items()]
    return _table(header, rows)


def _figures(
    metrics: Mapping[str, Any],
    gallery: list[GalleryItem] | None,
    extra: Mapping[str, bytes] | None,
) -> str:
    """Every figure section, each as an inline PNG under a heading."""
    labels = _labels(metrics)
    names, foreground = [n for _, n in labels], [n for v, n in labels if v != 0]
    parts = []
    cm = metrics.get("pooled", {}).get("confusion_matrix")
    if cm is not None and names:
        png = figures.confusion_figure(np.asarray(cm), names)
        parts.append("<h2>Confusion matrix</h2>\n" + _img(png, "confusion matrix"))
    per_case = metrics.get("per_case", [])
    if per_case and foreground:
        dice = {n: [row.get("dice", {}).get(n) for row in per_case] for n in foreground}
        png = figures.dice_distribution_figure(dice)
        parts.append("<h2>Per-case Dice distribution</h2>\n" + _img(png, "per-case Dice"))
    if per_case and foreground and "hd95" in per_case[0]:
        hd = {n: [row.get("hd95", {}).get(n) for row in per_case] for n in foreground}
        unit = str(metrics.get("distance_unit", "mm"))
        png = figures.distance_distribution_figure(hd, metric="HD95", unit=unit)
        parts.append("<h2>Per-case HD95 distribution</h2>\n" + _img(png, "per-case HD95"))
    if gallery:
        png = figures.overlay_figure(gallery, names=dict(labels) or None)
        caption = "<p>Solid: reference; dashed: prediction.</p>\n"
        parts.append("<h2>Gallery</h2>\n" + caption + _img(png, "overlay gallery"))
    for heading, png in (extra or {}).items():
        parts.append(f"<h2>{html.escape(heading)}</h2>\n" + _img(png, heading))
    return "".join(parts)


def _per_case(metrics: Mapping[str, Any], names: list[str]) -> str:
    """One row per case: accuracy, Dice per class, HD95 and NSD per foreground class."""
    per_case = metrics.get("per_case", [])
    fg = list(per_case[0].get("hd95", {})) if _distance_headers(metrics) and per_case else []
    rows = [
        [str(row.get("case", "–")), _fmt(row.get("accuracy"))]
        + [_fmt(row.get("dice", {}).get(n)) for n in names]
        + [_fmt(row.get(k, {}).get(n)) for k in ("hd95", "nsd") for n in fg]
        for row in per_case
    ]
    unit = str(metrics.get("distance_unit", "mm"))
    header = ["case", "accuracy"] + [f"Dice {n}" for n in names]
    header += [f"HD95 {n} ({unit})" for n in fg] + [f"NSD {n}" for n in fg]
    return "<h2>Per case</h2>\n" + _table(header, rows)


def _how_to_read(metrics: Mapping[str, Any]) -> str:
    """The metric policy, copied from the metrics."""
    policy = metrics.get("policy", {})
    items = "".join(
        f"<li><strong>{html.escape(str(key).replace('_', ' '))}:</strong> {html.escape(str(text))}</li>\n"
        for key, text in policy.items()
    )
    generic = (
        "<li><strong>pooled vs mean-case:</strong> pooled metrics add up the pixels of all cases "
        "before computing, so large cases weigh more; mean-case metrics compute one value per case "
        "and average them, so every case weighs the same. A dash (–) means the value is undefined, "
        "e.g. no case contains that class.</li>\n"
    )
    return f"<h2>How to read these numbers</h2>\n<ul>\n{items}{generic}</ul>\n"


def render_report(
    metrics: Mapping[str, Any],
    *,
    gallery: list[GalleryItem] | None = None,
    title: str = "medunet evaluation",
    extra_figures: Mapping[str, bytes] | None = None,
) -> str:
    """Build the report's HTML text; see :func:`write_report` for the parameters."""
    names = [name for _, name in _labels(metrics)]
    body = (
        _header(metrics, title)
        + _summary(metrics)
        + _per_class(metrics, names)
        + _figures(metrics, gallery, extra_figures)
        + _per_case(metrics, names)
        + _how_to_read(metrics)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def write_report(
    metrics: dict[str, Any],
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
    metrics : dict
        The evaluation summary as stored in ``metrics.json`` (labels, num_cases, policy,
        pooled, mean_case, per_case). Missing or ``None`` values are shown as "–".
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
    >>> write_report(metrics, "runs/x/report.html")  # doctest: +SKIP
    PosixPath('runs/x/report.html')
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(metrics, gallery=gallery, title=title, extra_figures=extra_figures)
    atomic_write_text(out, text)
    logger.info("wrote report %s (%d bytes)", out, len(text))
    return out
