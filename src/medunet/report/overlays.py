"""Gallery panels of one 2D slice: contours, error map and lesion verdicts, side by side.

Each panel is the slice's image at display size (:func:`~medunet.report.raster.scale_for`) with
opaque colour on top: reference contours solid and predicted contours dashed (one colour per
class; green and purple for a single class), false positives in orange and false negatives in
sky blue (a pixel of one foreground class predicted as another in yellow), and, for lesion
tasks, each reference lesion outlined green when detected and filled blue when missed, false
positive components filled orange. Where the case has an uncertainty map, one more panel shows
it in viridis over the fixed range 0..1 (:func:`~medunet.report.raster.uncertainty_rgb`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from medunet.report.raster import (
    FN_COLOUR,
    FP_COLOUR,
    WRONG_CLASS_COLOUR,
    Scale,
    Window,
    dashed,
    display_image,
    encode_png,
    fill,
    outline,
    scale_for,
    to_rgb,
    uncertainty_rgb,
)

__all__ = ["DEFAULT_PANELS", "DETECTED_COLOUR", "PRED_COLOUR", "REF_COLOUR", "LesionMasks", "Panel", "Slice",
           "class_styles", "error_masks", "hstack", "panel_strip", "panels", "vstack"]

REF_COLOUR = "#009e73"  # bluish green
PRED_COLOUR = "#d01c8b"  # magenta: stands out on grey where the paler Okabe-Ito purple does not
DETECTED_COLOUR = "#009e73"
# contour colours of several classes; none of them is an error colour (orange, sky blue, yellow)
_MULTI_COLOURS = ("#0072b2", "#009e73", "#cc79a7", "#d55e00", "#ffffff", "#000000")
_GAP = 6  # white pixels between panels

#: the panels a gallery row can show
Panel = Literal["image", "contours", "errors", "overlay", "lesions", "uncertainty"]
#: the panels of a gallery row, those the slice has not ("lesions", "uncertainty") left out
DEFAULT_PANELS: tuple[Panel, ...] = ("image", "contours", "errors", "lesions", "uncertainty")


@dataclass(frozen=True)
class LesionMasks:
    """Where the reference lesions and false-positive components of a slice are (bool, (H, W))."""

    detected: np.ndarray
    missed: np.ndarray
    false_positive: np.ndarray


@dataclass(frozen=True)
class Slice:
    """One 2D view of a case: image (C, H, W), (H, W) or None, label maps (H, W)."""

    case_id: str
    image: np.ndarray | None
    ref: np.ndarray
    pred: np.ndarray
    lesions: LesionMasks | None = None
    #: intensities shown black and white (a volume's, so that its slices match); default:
    #: the slice's own 1st to 99th percentile
    window: Window | None = None
    #: per-pixel uncertainty in [0, 1], (H, W), when the case has a map
    uncertainty: np.ndarray | None = None

    def check(self) -> None:
        """Raise ``ValueError`` naming the case when the label maps (or the uncertainty map)
        differ in shape."""
        if self.ref.ndim != 2 or self.ref.shape != self.pred.shape:
            raise ValueError(f"case {self.case_id!r}: ref {self.ref.shape} and pred "
                             f"{self.pred.shape} must be equal (H, W)")
        if self.uncertainty is not None and np.shape(self.uncertainty) != self.ref.shape:
            raise ValueError(f"case {self.case_id!r}: uncertainty map {np.shape(self.uncertainty)} "
                             f"and ref {self.ref.shape} must be equal (H, W)")


def class_styles(label_values: Sequence[int]) -> dict[int, str]:
    """Contour colour per foreground label value (the reference colour for a single class)."""
    if len(label_values) == 1:
        return {int(label_values[0]): REF_COLOUR}
    return {int(v): _MULTI_COLOURS[i % len(_MULTI_COLOURS)] for i, v in enumerate(label_values)}


def _contours(base: np.ndarray, ref: np.ndarray, pred: np.ndarray, styles: dict[int, str],
              width: int) -> np.ndarray:
    """The image with reference contours (solid) and predicted contours (dashed)."""
    rgb = base.copy()
    single = len(styles) == 1
    for label, colour in styles.items():
        fill(rgb, outline(ref == label, width), colour)
        pred_colour = PRED_COLOUR if single else colour
        fill(rgb, dashed(outline(pred == label, width), period=4 * width + 6), pred_colour)
    return rgb


def error_masks(ref: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False positives, false negatives and wrong-class pixels of two label maps (bool)."""
    fp = (pred > 0) & (ref == 0)
    fn = (ref > 0) & (pred == 0)
    wrong = (ref > 0) & (pred > 0) & (ref != pred)
    return fp, fn, wrong


def _errors(base: np.ndarray, ref: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The image with error pixels painted opaque."""
    rgb = base.copy()
    for mask, colour in zip(error_masks(ref, pred), (FP_COLOUR, FN_COLOUR, WRONG_CLASS_COLOUR),
                            strict=True):
        fill(rgb, mask, colour)
    return rgb


def _lesion_panel(base: np.ndarray, lesions: LesionMasks, scale: Scale, width: int) -> np.ndarray:
    """The image with missed lesions and false positives filled, detected lesions outlined."""
    rgb = base.copy()
    fill(rgb, scale.apply(lesions.false_positive), FP_COLOUR)
    fill(rgb, scale.apply(lesions.missed), FN_COLOUR)
    fill(rgb, outline(scale.apply(lesions.detected), width), DETECTED_COLOUR)
    return rgb


def panels(item: Slice, styles: dict[int, str], *,
           which: Sequence[Panel] = DEFAULT_PANELS) -> list[np.ndarray]:
    """The panels of one slice, drawn at display size.

    Parameters
    ----------
    item : Slice
        Image and (H, W) label maps (and lesion masks for the "lesions" panel).
    styles : dict of int to str
        Contour colour per foreground label value (:func:`class_styles`).
    which : sequence of {"image", "contours", "errors", "overlay", "lesions", "uncertainty"}, optional
        The panels, in order; "overlay" draws the contours on the error map. "lesions" is
        left out when the slice has no lesion masks, "uncertainty" when it has no map.

    Returns
    -------
    list of ndarray
        (H', W', 3) uint8 images, H' and W' from :func:`~medunet.report.raster.scale_for`.

    Raises
    ------
    ValueError
        The label maps differ in shape, or the image does not fit them (naming the case).
    """
    item.check()
    scale = scale_for(item.ref.shape)
    base = to_rgb(scale.apply(display_image(item.image, item.ref.shape, item.window)))
    ref, pred = scale.apply(item.ref), scale.apply(item.pred)
    width = 2 if scale.factor >= 2 else 1
    out = []
    for name in which:
        if name == "image":
            out.append(base)
        elif name == "contours":
            out.append(_contours(base, ref, pred, styles, width))
        elif name == "errors":
            out.append(_errors(base, ref, pred))
        elif name == "overlay":
            out.append(_contours(_errors(base, ref, pred), ref, pred, styles, width))
        elif name == "lesions" and item.lesions is not None:
            out.append(_lesion_panel(base, item.lesions, scale, width))
        elif name == "uncertainty" and item.uncertainty is not None:
            out.append(uncertainty_rgb(scale.apply(np.asarray(item.uncertainty))))
    return out


def _stack(images: Sequence[np.ndarray], gap: int, axis: int) -> np.ndarray:
    """Images on white along ``axis`` (0: rows, 1: columns), ``gap`` pixels apart, aligned
    at the start of the other axis."""
    across = 1 - axis
    shape = [0, 0, 3]
    shape[across] = max(im.shape[across] for im in images)
    shape[axis] = sum(im.shape[axis] for im in images) + gap * (len(images) - 1)
    out = np.full(tuple(shape), 255, dtype=np.uint8)
    at = 0
    for im in images:
        where = [slice(None, im.shape[0]), slice(None, im.shape[1])]
        where[axis] = slice(at, at + im.shape[axis])
        out[tuple(where)] = im
        at += im.shape[axis] + gap
    return out


def hstack(images: Sequence[np.ndarray], gap: int = _GAP) -> np.ndarray:
    """Images side by side on white, top-aligned, ``gap`` pixels apart."""
    return _stack(images, gap, axis=1)


def vstack(images: Sequence[np.ndarray], gap: int = _GAP) -> np.ndarray:
    """Images one below the other on white, left-aligned, ``gap`` pixels apart."""
    return _stack(images, gap, axis=0)


def panel_strip(rows: Sequence[Slice], styles: dict[int, str],
                which: Sequence[Panel] = DEFAULT_PANELS) -> bytes:
    """PNG of one row of :func:`panels` per slice (e.g. the three planes of a volume).

    Parameters
    ----------
    rows : sequence of Slice
    styles : dict of int to str
    which : sequence of Panel, optional

    Returns
    -------
    bytes
        PNG image (rows left-aligned on white, 6 pixels apart).
    """
    return encode_png(vstack([hstack(panels(s, styles, which=which)) for s in rows]))
