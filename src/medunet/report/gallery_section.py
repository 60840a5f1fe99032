"""The gallery section: per case, the image, contours, error map and lesion verdicts.

A 2D case is one row of panels; a volume shows its axial, coronal and sagittal planes
through the structure and a slice scroller (:mod:`medunet.report.scroller`). A case with an
uncertainty map shows it as one more panel in each row and frame, with a colour bar. Each case has an
anchor (``case-<row index>``) that its row of the per-case table links to, and links back.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from medunet.report.gallery import GalleryItem, take, view_planes
from medunet.report.lesion_view import LesionMark, lesion_view
from medunet.report.markup import details, fmt, img, table
from medunet.report.overlays import (
    DETECTED_COLOUR,
    PRED_COLOUR,
    REF_COLOUR,
    LesionMasks,
    Slice,
    class_styles,
    panel_strip,
)
from medunet.report.raster import (
    FN_COLOUR,
    FP_COLOUR,
    WRONG_CLASS_COLOUR,
    Window,
    encode_png,
    intensity_window,
    shown_channels,
    uncertainty_rgb,
)
from medunet.report.scroller import scroller

if TYPE_CHECKING:  # the report renders the document; it never builds one
    from medunet.evaluation.document import MetricsDocument

__all__ = ["MAX_MARK_ROWS", "UNCERTAINTY_TEXT", "gallery_section", "uncertainty_key"]

#: lesion rows listed under a gallery case at most (all of them are in ``lesions.csv``)
MAX_MARK_ROWS = 20
UNCERTAINTY_TEXT = "uncertainty: normalised entropy over TTA flips, 0 = all agree"


def _swatch(colour: str, text: str, kind: str = "solid") -> str:
    """A legend entry: a coloured box (``kind``: solid or dashed outline, or filled) and its meaning."""
    style = (f"background: {colour}; border: 3px solid {colour}" if kind == "filled"
             else f"border: 3px {kind} {colour}")
    return (f'<span class="key"><span class="swatch" style="{style}"></span>'
            f"{html.escape(text)}</span>")


def _legend(styles: dict[int, str], names: Sequence[str], lesions: bool) -> str:
    """What the colours mean."""
    if len(styles) == 1:
        keys = [_swatch(REF_COLOUR, "reference contour"),
                _swatch(PRED_COLOUR, "prediction contour (dashed)", "dashed")]
    else:
        keys = [_swatch(c, f"{names[v]} (reference solid, prediction dashed)")
                for v, c in styles.items()]
    keys += [_swatch(FP_COLOUR, "false positive", "filled"),
             _swatch(FN_COLOUR, "false negative", "filled")]
    if len(styles) > 1:
        keys.append(_swatch(WRONG_CLASS_COLOUR, "foreground of the wrong class", "filled"))
    if lesions:
        keys += [_swatch(DETECTED_COLOUR, "lesion detected (outlined)"),
                 _swatch(FN_COLOUR, "lesion missed", "filled"),
                 _swatch(FP_COLOUR, "false-positive lesion", "filled")]
    return f'<p class="legend">{" ".join(keys)}</p>\n'


def _stretch(ref: np.ndarray) -> int:
    """Row repeat of a coronal or sagittal plane of ``ref`` (Z, Y, X), so that few thick slices
    do not make a sliver; the report knows no spacing, so the caption states the factor."""
    return int(np.clip(round(max(ref.shape[1:]) / (3 * ref.shape[0])), 1, 8))


def volume_window(item: GalleryItem) -> Window | None:
    """The intensity window of a volume's image, shared by all its planes and frames."""
    if item.image is None:
        return None
    image = np.asarray(item.image)
    return intensity_window(shown_channels(image) if image.ndim == 4 else image)


def _plane(item: GalleryItem, masks: LesionMasks | None, axis: int, index: int,
           repeat: int, window: Window | None) -> Slice:
    """One plane of a volume case, rows repeated ``repeat`` times along the slice axis."""
    def cut(arr: np.ndarray, channels: bool = False) -> np.ndarray:
        plane = take(arr, axis, index, channels=channels)
        return np.repeat(plane, repeat, axis=plane.ndim - 2) if repeat > 1 else plane

    channels = item.image is not None and np.ndim(item.image) == 4
    image = None if item.image is None else cut(np.asarray(item.image), channels)
    part = None if masks is None else LesionMasks(
        *(cut(m) for m in (masks.detected, masks.missed, masks.false_positive)))
    unc = None if item.uncertainty is None else cut(np.asarray(item.uncertainty))
    return Slice(item.case_id, image, cut(np.asarray(item.ref)), cut(np.asarray(item.pred)), part,
                 window, unc)


def _slices(item: GalleryItem, masks: LesionMasks | None,
            window: Window | None) -> tuple[list[Slice], list[str], int]:
    """The views of a case with their titles, and the axial index the scroller starts at."""
    ref, pred = np.asarray(item.ref), np.asarray(item.pred)
    if ref.ndim != 3:
        unc = None if item.uncertainty is None else np.asarray(item.uncertainty)
        return [Slice(item.case_id, item.image, ref, pred, masks, None, unc)], [], 0
    if ref.shape != pred.shape:
        raise ValueError(f"case {item.case_id!r}: ref {ref.shape} and pred {pred.shape} must "
                         "be equal (Z, Y, X)")
    views, titles, start = [], [], 0
    for view, axis, index in view_planes(ref, pred):
        repeat = 1 if axis == 0 else _stretch(ref)
        views.append(_plane(item, masks, axis, index, repeat, window))
        shown = index + item.z_offset if axis == 0 else index
        titles.append(f"{view} {shown}" + (f" (rows ×{repeat} along the slice axis)"
                                           if repeat > 1 else ""))
        start = index if axis == 0 else start
    return views, titles, start


def uncertainty_key() -> str:
    """The colour bar of the uncertainty panels (viridis, 0 left to 1 right) and its meaning."""
    bar = np.repeat(uncertainty_rgb(np.linspace(0.0, 1.0, 128))[None], 10, axis=0)
    data = base64.b64encode(encode_png(bar)).decode("ascii")
    style = "display: inline; vertical-align: middle; margin: 0 .3em; width: 128px; height: 10px"
    return (f'<p class="legend">0 <img class="colourbar" style="{style}" '
            f'src="data:image/png;base64,{data}" alt="uncertainty colour scale, 0 to 1"> 1 '
            f"— {html.escape(UNCERTAINTY_TEXT)}</p>\n")


def _marks_table(marks: list[LesionMark]) -> str:
    """The lesions and false positives of one case, at most ``MAX_MARK_ROWS`` of them."""
    if not marks:
        return ""
    header = ["class", "kind", "id", "size", "verdict", "Dice", "centre (voxel index)"]
    rows = [[m.class_name, m.kind, str(m.ident), f"{fmt(m.size, 1)} {m.volume_unit}",
             "false positive" if m.detected is None else "detected" if m.detected else "missed",
             fmt(m.dice), ", ".join(str(c) for c in m.centre)] for m in marks[:MAX_MARK_ROWS]]
    more = len(marks) - MAX_MARK_ROWS
    tail = f"<p class=\"meta\">… and {more} more (all of them are in lesions.csv).</p>\n"
    found = sum(1 for m in marks if m.detected)
    missed = sum(1 for m in marks if m.detected is False)
    summary = (f"Lesions of this case: {found} detected, {missed} missed, "
               f"{len(marks) - found - missed} false positive")
    return details(summary, table(header, rows, cls="marks") + (tail if more > 0 else ""))


def _case(doc: MetricsDocument, item: GalleryItem, anchor: str, row: int | None,
          styles: dict[int, str]) -> str:
    """The HTML of one gallery case."""
    masks, marks, skipped = (lesion_view(item, doc.lesions, doc.labels.names)
                             if doc.lesions is not None else (None, [], []))
    window = volume_window(item) if np.ndim(item.ref) == 3 else None
    try:
        views, titles, start = _slices(item, masks, window)
        strip = panel_strip(views, styles)
    except ValueError as err:
        raise ValueError(err.args[0] if item.case_id in str(err)
                         else f"case {item.case_id!r}: {err}") from err
    back = f' <a class="back" href="#row-{row}">(row in the per-case table)</a>' if row is not None else ""
    panels = ("image, contours, errors" + (", lesions" if masks is not None else "")
              + (", uncertainty" if item.uncertainty is not None else ""))
    head = (f'<h3 id="{anchor}">{html.escape(item.case_id)} — foreground Dice '
            f"{fmt(item.dice)}{back}</h3>\n")
    where = f"<p class=\"meta\">Panels: {panels}; rows: {', '.join(titles)}.</p>\n" if titles else ""
    body = head + where + img(strip, f"{item.case_id}: {panels}", cls="panels")
    if item.uncertainty is not None:
        body += uncertainty_key()
    if np.ndim(item.ref) == 3:
        body += scroller(item, anchor, masks, styles, start, window)
    if skipped:
        body += (f"<p class=\"meta\">Lesions of {html.escape(', '.join(skipped))} not shown: "
                 "these arrays do not give the evaluated lesions.</p>\n")
    return f'<section class="case">\n{body}{_marks_table(marks)}</section>\n'


def gallery_section(doc: MetricsDocument, items: Sequence[GalleryItem]) -> tuple[str, dict[int, str]]:
    """The gallery's HTML and, per row index of ``doc.per_case`` shown, its anchor.

    Raises
    ------
    ValueError
        A case's image and masks disagree in shape (the message names the case).
    """
    if not items:
        return "", {}
    rows: dict[str, int] = {}
    for i, r in enumerate(doc.per_case):
        rows.setdefault(r.case, i)
    styles = class_styles(list(doc.labels.values[1:]))
    anchors: dict[int, str] = {}
    parts = []
    for j, item in enumerate(items):
        row = rows.get(item.case_id)
        anchor = f"case-{row}" if row is not None and row not in anchors else f"gallery-{j}"
        if row is not None:
            anchors.setdefault(row, anchor)
        parts.append(_case(doc, item, anchor, row, styles))
    intro = ("<p>The worst then the best cases by foreground Dice. Colours are the same in "
             "every panel:</p>\n")
    text = ('<h2 id="gallery">Gallery</h2>\n' + intro
            + _legend(styles, doc.labels.names, doc.lesions is not None) + "".join(parts))
    return text, anchors
