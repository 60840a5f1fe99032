"""The overlay gallery figure: each case's image with reference and prediction contours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from medunet.report.gallery import GalleryItem
from medunet.report.png import DPI, to_png

__all__ = ["overlay_figure"]

_REF_COLOUR = "#1a9850"  # green
_PRED_COLOUR = "#d01c8b"  # magenta
_MULTI_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf")


def _display_image(image: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB in [0, 1], scaled between the 1st and 99th percentile."""
    if image is None:
        return np.zeros(shape, dtype=np.float64)
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1) if arr.shape[0] == 3 else arr[0]
    if arr.ndim not in (2, 3) or arr.shape[:2] != tuple(shape):
        raise ValueError(
            f"image has shape {np.shape(image)}, expected (H, W) or (C, H, W) with (H, W) = {shape}"
        )
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return np.zeros(arr.shape, dtype=np.float64)
    lo, hi = np.percentile(finite, [1.0, 99.0])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.float64)
    return np.clip((np.nan_to_num(arr, nan=lo) - lo) / (hi - lo), 0.0, 1.0)


def _class_styles(label_values: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Reference and prediction colour per foreground label value."""
    if len(label_values) == 1:
        return {label_values[0]: (_REF_COLOUR, _PRED_COLOUR)}
    cols = _MULTI_COLOURS
    return {v: (cols[i % len(cols)], cols[i % len(cols)]) for i, v in enumerate(label_values)}


def _draw_contours(
    ax: Axes, label_map: np.ndarray, styles: dict[int, tuple[str, str]], which: int
) -> None:
    """Contour each foreground class of ``label_map`` (``which``: 0 reference, 1 prediction)."""
    linestyle = "solid" if which == 0 else "dashed"
    for label, colours in styles.items():
        binary = (label_map == label).astype(np.float64)
        # nothing to outline (avoids matplotlib's warning), or a single row/column, which
        # matplotlib cannot contour: the panel still shows the image
        if binary.min() == binary.max() or min(binary.shape) < 2:
            continue
        ax.contour(
            binary, levels=[0.5], colors=[colours[which]], linestyles=[linestyle], linewidths=1.4
        )


def overlay_figure(items: list[GalleryItem], names: Mapping[int, str] | None = None) -> bytes:
    """One row per case: the image, and the image with reference and prediction contours.

    Parameters
    ----------
    items : list of GalleryItem
        Cases to show; ``ref`` and ``pred`` are (H, W) integer label masks, 0 = background.
    names : mapping of int to str, optional
        Label value -> class name, used in the legend.

    Returns
    -------
    bytes
        PNG image.

    Raises
    ------
    ValueError
        If ``items`` is empty or an image/mask shape is inconsistent.
    """
    if not items:
        raise ValueError("overlay_figure needs at least one GalleryItem, got none")
    values = sorted({int(v) for it in items for m in (it.ref, it.pred) for v in np.unique(m)} - {0})
    styles = _class_styles(values)
    fig = Figure(figsize=(7.0, 3.4 * len(items) + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(items), 2, squeeze=False)
    for row, item in zip(axes, items, strict=True):
        _overlay_row(row[0], row[1], item, styles)
    fig.legend(
        handles=_legend_handles(styles, names), loc="outside lower center", ncols=2, fontsize=8
    )
    return to_png(fig)


def _overlay_row(
    ax_img: Axes, ax_ovl: Axes, item: GalleryItem, styles: dict[int, tuple[str, str]]
) -> None:
    """Draw one gallery case on two axes."""
    ref, pred = np.asarray(item.ref), np.asarray(item.pred)
    if ref.ndim != 2 or ref.shape != pred.shape:
        raise ValueError(
            f"case {item.case_id!r}: ref {ref.shape} and pred {pred.shape} must be equal (H, W)"
        )
    shown = _display_image(item.image, ref.shape)
    for ax in (ax_img, ax_ovl):
        ax.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
    _draw_contours(ax_ovl, ref, styles, 0)
    _draw_contours(ax_ovl, pred, styles, 1)
    dice = "–" if not np.isfinite(item.dice) else f"{item.dice:.3f}"
    ax_img.set_title(f"{item.case_id} — Dice {dice}", fontsize=10, loc="left")


def _legend_handles(
    styles: dict[int, tuple[str, str]], names: Mapping[int, str] | None
) -> list[Line2D]:
    """Legend entries: one per class and source."""
    handles = []
    for label, (ref_c, pred_c) in styles.items():
        name = (names or {}).get(label, f"class {label}")
        suffix = f" ({name})" if len(styles) > 1 or names is not None else ""
        handles.append(Line2D([], [], color=ref_c, linestyle="solid", label=f"reference{suffix}"))
        handles.append(
            Line2D([], [], color=pred_c, linestyle="dashed", label=f"prediction{suffix}")
        )
    if not handles:
        handles = [
            Line2D([], [], color=_REF_COLOUR, label="reference (empty)"),
            Line2D([], [], color=_PRED_COLOUR, linestyle="dashed", label="prediction (empty)"),
        ]
    return handles
