"""Figure layout: no two labels of the confusion matrix collide and no title is cut off."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from medunet.report.figures import draw_confusion

# 60 characters, the kind of name a brain-extraction dataset gives its background
LONG = "background / non-brain (skull, scalp, neck, eyes and the rest)"[:60]


def _extents(fig: Figure) -> tuple[dict[str, list[tuple[str, Bbox]]], Bbox]:
    """Drawn text extents by role (x ticks, y ticks, titles, all) and the figure's box, in pixels."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()

    def boxes(texts: list[Text]) -> list[tuple[str, Bbox]]:
        return [(t.get_text(), t.get_window_extent(renderer)) for t in texts
                if t.get_text() and t.get_visible()]

    every = [t for t in fig.findobj(Text) if isinstance(t, Text)]
    out = {"x": [], "y": [], "titles": [], "all": boxes(every)}
    for ax in fig.axes:
        out["x"] += boxes(ax.get_xticklabels())
        out["y"] += boxes(ax.get_yticklabels())
        out["titles"] += boxes([ax.title])
    return out, fig.bbox


def _overlapping(boxes: list[tuple[str, Bbox]]) -> list[tuple[str, str]]:
    return [(a[:20], b[:20]) for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
            if ba.overlaps(bb)]


@pytest.mark.parametrize("names", [
    [LONG, "grey matter", "white matter", "CSF", "tumour", "oedema"],
    ["background", "tumour"],
    ["background", LONG],
], ids=["60-char-6-classes", "2-classes", "long-last"])
def test_confusion_labels_never_collide(names: list[str]) -> None:
    assert len(LONG) == 60
    cm = np.random.default_rng(0).integers(0, 10**7, size=(len(names), len(names)))
    fig = draw_confusion(cm, names)
    texts, page = _extents(fig)
    # one tick label per class on every axis that shows names
    assert len(texts["x"]) == 2 * len(names) and len(texts["y"]) == len(names)
    assert _overlapping(texts["x"]) == [] and _overlapping(texts["y"]) == []
    # no text of the figure (tick labels, cell numbers, axis labels, titles) touches another
    assert _overlapping(texts["all"]) == []
    assert len(texts["titles"]) == 2
    for text, box in texts["all"]:
        assert page.x0 <= box.x0 and box.x1 <= page.x1, f"{text!r} cut off left/right"
        assert page.y0 <= box.y0 and box.y1 <= page.y1, f"{text!r} cut off top/bottom"


def test_confusion_names_are_plain_text() -> None:
    fig = draw_confusion(np.eye(2, dtype=int), ["back$ground", "a_b^c$"])
    texts, _ = _extents(fig)
    assert {t for t, _ in texts["y"]} == {"back$ground", "a_b^c$"}  # no mathtext
