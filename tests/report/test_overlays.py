"""Gallery pixels: error colours at known false-positive / false-negative pixels, contours, lesions."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.evaluation.document import MetricsDocument
from medunet.evaluation.lesions import evaluate_lesions
from medunet.report import GalleryItem, write_report
from medunet.report.overlays import DETECTED_COLOUR, REF_COLOUR, class_styles
from medunet.report.raster import (
    FN_COLOUR,
    FP_COLOUR,
    WRONG_CLASS_COLOUR,
    encode_png,
    hex_rgb,
    scale_for,
)

PANELS = re.compile(r'<img class="panels" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
GAP = 6


def _case() -> tuple[np.ndarray, np.ndarray]:
    """20x20: reference square rows/cols 5..12, prediction shifted 3 columns right."""
    ref = np.zeros((20, 20), np.int64)
    ref[5:13, 5:13] = 1
    return ref, np.roll(ref, 3, axis=1)


def _panels(text: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(m))).convert("RGB"))
            for m in PANELS.findall(text)]


def _pixel(strip: np.ndarray, panel: int, rc: tuple[int, int], shape: tuple[int, int], *,
           corner: bool = False) -> tuple:
    """Colour of mask pixel ``rc`` in panel ``panel`` (0 = image) of a strip: at the centre of
    its block of display pixels, or at the block's top-left ``corner`` (where an outline is)."""
    s = scale_for(shape)
    assert s.stride == 1 and s.factor > 4
    width = shape[1] * s.factor
    inset = 0 if corner else s.factor // 2
    y = rc[0] * s.factor + inset
    x = panel * (width + GAP) + rc[1] * s.factor + inset
    return tuple(int(v) for v in strip[y, x])


def _doc(factory: Callable[..., MetricsDocument], ids: list[str], names: list[str]) -> MetricsDocument:
    doc = factory(names, num_cases=len(ids))
    rows = tuple(dataclasses.replace(r, case=cid) for r, cid in zip(doc.per_case, ids, strict=True))
    return dataclasses.replace(doc, per_case=rows)


def test_error_map_colours_known_pixels(tmp_path: Path, metrics_factory: Callable) -> None:
    ref, pred = _case()
    image = np.add.outer(np.arange(20.0), np.arange(20.0)).astype(np.float32)  # a grey ramp
    doc = _doc(metrics_factory, ["sq"], ["background", "lesion"])
    text = write_report(doc, tmp_path / "r.html",
                        gallery=[GalleryItem("sq", image, ref, pred, 0.6)]).read_text()
    (strip,) = _panels(text)
    fp, fn, tp, bg = (6, 14), (6, 6), (8, 9), (1, 1)  # pred only; ref only; both; neither
    assert ref[fn] and not pred[fn] and pred[fp] and not ref[fp] and ref[tp] and pred[tp]
    errors = 2  # image, contours, errors
    assert _pixel(strip, errors, fp, ref.shape) == hex_rgb(FP_COLOUR)
    assert _pixel(strip, errors, fn, ref.shape) == hex_rgb(FN_COLOUR)
    for plain in (tp, bg):  # correct pixels keep the image's grey
        grey = _pixel(strip, 0, plain, ref.shape)
        assert grey[0] == grey[1] == grey[2] and _pixel(strip, errors, plain, ref.shape) == grey
    assert _pixel(strip, 0, tp, ref.shape) != _pixel(strip, 0, bg, ref.shape)
    # contours: the reference's top-left corner pixel is on its outline, the image panel is plain
    assert _pixel(strip, 1, (5, 5), ref.shape, corner=True) == hex_rgb(REF_COLOUR)
    assert len(set(_pixel(strip, 0, (5, 5), ref.shape, corner=True))) == 1


def test_wrong_class_is_its_own_colour(tmp_path: Path, metrics_factory: Callable) -> None:
    ref = np.zeros((16, 16), np.int64)
    ref[2:8, 2:8] = 1
    pred = ref * 2  # class 1 predicted as class 2 everywhere
    doc = _doc(metrics_factory, ["w"], ["background", "a", "b"])
    (strip,) = _panels(write_report(doc, tmp_path / "r.html", gallery=[
        GalleryItem("w", None, ref, pred, 0.0)]).read_text())
    assert _pixel(strip, 2, (4, 4), ref.shape) == hex_rgb(WRONG_CLASS_COLOUR)
    assert _pixel(strip, 2, (12, 12), ref.shape) == (0, 0, 0)  # no image: black


def test_lesion_view_marks_detected_missed_and_false_positives(
    tmp_path: Path, metrics_factory: Callable
) -> None:
    ref = np.zeros((24, 24), np.int64)
    ref[2:8, 2:8] = 1  # found
    ref[14:20, 14:20] = 1  # missed
    pred = np.zeros_like(ref)
    pred[2:8, 3:9] = 1
    pred[15:18, 2:5] = 1  # a false positive
    lesions = evaluate_lesions([("les", ref, pred)], 2)
    doc = dataclasses.replace(_doc(metrics_factory, ["les"], ["background", "lesion"]),
                              lesions=lesions)
    text = write_report(doc, tmp_path / "r.html",
                        gallery=[GalleryItem("les", None, ref, pred, 0.5)]).read_text()
    (strip,) = _panels(text)
    panel = 3  # image, contours, errors, lesions
    assert _pixel(strip, panel, (16, 16), ref.shape) == hex_rgb(FN_COLOUR)  # missed: filled
    assert _pixel(strip, panel, (16, 3), ref.shape) == hex_rgb(FP_COLOUR)  # FP: filled
    assert _pixel(strip, panel, (2, 4), ref.shape, corner=True) == hex_rgb(DETECTED_COLOUR)
    assert _pixel(strip, panel, (4, 4), ref.shape) == (0, 0, 0)  # detected: inside not filled
    # the case's lesion table: the evaluation's verdicts, at each component's centre
    assert "1 detected, 1 missed, 1 false positive" in text
    assert re.search(r"<td>missed</td><td>–</td><td>16, 16</td>", text.replace("\n", ""))


def test_lesion_view_refuses_arrays_that_differ(tmp_path: Path, metrics_factory: Callable) -> None:
    ref, pred = _case()
    lesions = evaluate_lesions([("sq", ref, pred)], 2)
    doc = dataclasses.replace(_doc(metrics_factory, ["sq"], ["background", "lesion"]),
                              lesions=lesions)
    other = np.zeros_like(ref)
    other[1:3, 1:3] = 1  # not the evaluated reference
    text = write_report(doc, tmp_path / "r.html",
                        gallery=[GalleryItem("sq", None, other, pred, 0.5)]).read_text()
    assert "Lesions of lesion not shown" in text


@pytest.mark.parametrize("shape", [(20, 20), (700, 300)])
def test_scale_keeps_panels_between_limits(shape: tuple[int, int]) -> None:
    s = scale_for(shape)
    side = max(shape) // s.stride * s.factor
    assert 192 <= side <= 256 + s.factor


def test_png_palette_round_trips() -> None:
    rgb = np.random.default_rng(0).integers(0, 4, size=(9, 7, 3)).astype(np.uint8) * 60
    back = np.asarray(Image.open(io.BytesIO(encode_png(rgb))).convert("RGB"))
    np.testing.assert_array_equal(back, rgb)
    many = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(many)))), many)
    assert class_styles([1]) == {1: REF_COLOUR}
