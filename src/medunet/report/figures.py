"""Report figures rendered to PNG bytes.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so no global
backend or figure registry is touched and nothing needs closing by the caller. Output is
deterministic: jitter is seeded and the PNG carries no software/version metadata.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from medunet.report.html import GalleryItem

logger = logging.getLogger(__name__)

DPI = 100
_REF_COLOUR = "#1a9850"  # green
_PRED_COLOUR = "#d01c8b"  # magenta
_MULTI_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf")


def _to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes and release its memory."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return buf.getvalue()


def _compact(value: float) -> str:
    """A count as short text: ``950``, ``12.3k``, ``4.5M``, ``1.2G``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{suffix}"
    return f"{value:.0f}"


def _heatmap(ax: Axes, values: np.ndarray, texts: list[list[str]], names: list[str]) -> None:
    """Draw an annotated heat map with reference rows and prediction columns."""
    norm = values / values.max() if values.max() > 0 else values
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(names))
    rotate = len(names) > 3
    ax.set_xticks(
        ticks, labels=names, rotation=45 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("reference")
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            colour = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)


def confusion_figure(cm: np.ndarray, names: list[str]) -> bytes:
    """Confusion matrix as counts and row-normalised fractions, side by side.

    Parameters
    ----------
    cm : np.ndarray
        (K, K) pixel counts; rows are the reference class, columns the predicted class.
    names : list of str
        K class names, in label order.

    Returns
    -------
    bytes
        PNG image.

    Raises
    ------
    ValueError
        If ``cm`` is not square or does not match ``names``.
    """
    counts = np.asarray(cm, dtype=np.float64)
    k = len(names)
    if counts.shape != (k, k):
        raise ValueError(
            f"confusion matrix has shape {counts.shape}, expected ({k}, {k}) for {names}"
        )
    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    size = 3.0 + 0.6 * k
    fig = Figure(figsize=(2 * size + 1.0, size), dpi=DPI, layout="constrained")
    ax_counts, ax_frac = fig.subplots(1, 2)
    _heatmap(ax_counts, counts, [[_compact(v) for v in row] for row in counts], names)
    ax_counts.set_title("pixel counts")
    _heatmap(ax_frac, fractions, [[f"{v:.3f}" for v in row] for row in fractions], names)
    ax_frac.set_title("row-normalised (recall per reference class)")
    return _to_png(fig)


def dice_distribution_figure(per_case_dice: dict[str, list[float]], *, seed: int = 0) -> bytes:
    """Box plot with jittered points of per-case Dice for each (foreground) class.

    Parameters
    ----------
    per_case_dice : dict of str to list of float
        Class name -> one Dice value per case. ``None``/NaN entries are dropped.
    seed : int, optional
        Seed of the horizontal jitter, so the figure is reproducible.

    Returns
    -------
    bytes
        PNG image.
    """
    fig, ax = _box_strip(per_case_dice, seed)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("Dice per case")
    ax.set_title("Per-case Dice")
    return _to_png(fig)


def distance_distribution_figure(
    per_case: dict[str, list[float | None]], *, metric: str = "HD95", unit: str = "mm",
    seed: int = 0,
) -> bytes:
    """Box plot with jittered points of a per-case boundary distance for each class.

    Parameters
    ----------
    per_case : dict of str to list of float or None
        Class name -> one distance per case. ``None`` (undefined: one mask empty) and NaN
        entries are dropped; ``n`` under each class counts the values shown.
    metric : str, optional
        Name of the distance, for the axis label and title.
    unit : str, optional
        ``"mm"`` or ``"px"``.
    seed : int, optional
        Seed of the horizontal jitter.

    Returns
    -------
    bytes
        PNG image.
    """
    fig, ax = _box_strip(per_case, seed)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel(f"{metric} per case ({unit})")
    ax.set_title(f"Per-case {metric} (lower is better)")
    return _to_png(fig)


def _box_strip(
    per_case: Mapping[str, Sequence[float | None]], seed: int
) -> tuple[Figure, Axes]:
    """Figure with one box plot plus seeded jittered points per class (finite values only)."""
    names = list(per_case)
    values = [_finite(per_case[name]) for name in names]
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(max(4.0, 1.4 * len(names) + 2.0), 4.0), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    positions = np.arange(1, len(names) + 1)
    if names:
        ax.boxplot(values, positions=positions, widths=0.5, showfliers=False)
    for pos, vals in zip(positions, values, strict=True):
        jitter = rng.uniform(-0.15, 0.15, size=len(vals))
        ax.scatter(pos + jitter, vals, s=14, alpha=0.6, color="#d01c8b", zorder=3)
    ax.set_xticks(
        positions, labels=[f"{n}\n(n={len(v)})" for n, v in zip(names, values, strict=True)]
    )
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def _finite(values: Sequence[float | None]) -> np.ndarray:
    """Drop None and non-finite values."""
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


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


def _class_styles(labels: list[int]) -> dict[int, tuple[str, str]]:
    """Reference and prediction colour per foreground label."""
    if len(labels) == 1:
        return {labels[0]: (_REF_COLOUR, _PRED_COLOUR)}
    cols = _MULTI_COLOURS
    return {lab: (cols[i % len(cols)], cols[i % len(cols)]) for i, lab in enumerate(labels)}


def _draw_contours(
    ax: Axes, mask: np.ndarray, styles: dict[int, tuple[str, str]], which: int
) -> None:
    """Contour each foreground class of ``mask`` (``which``: 0 reference, 1 prediction)."""
    linestyle = "solid" if which == 0 else "dashed"
    for label, colours in styles.items():
        binary = (mask == label).astype(np.float64)
        if binary.min() == binary.max():  # nothing to outline; avoids matplotlib's warning
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
    labels = sorted({int(v) for it in items for m in (it.ref, it.pred) for v in np.unique(m)} - {0})
    styles = _class_styles(labels)
    fig = Figure(figsize=(7.0, 3.4 * len(items) + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(items), 2, squeeze=False)
    for row, item in zip(axes, items, strict=True):
        _overlay_row(row[0], row[1], item, styles)
    fig.legend(
        handles=_legend_handles(styles, names), loc="outside lower center", ncols=2, fontsize=8
    )
    return _to_png(fig)


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


def curves_figure(log_rows: list[dict[str, float]]) -> bytes:
    """Training curves: losses on the left, validation Dice on the right.

    Parameters
    ----------
    log_rows : list of dict
        One row per epoch (e.g. parsed ``log.csv``). Uses ``epoch`` as x (the row index when absent),
        ``train_loss`` and ``val_loss`` if present, and every key starting with ``val_dice``.

    Returns
    -------
    bytes
        PNG image.
    """
    keys = list(dict.fromkeys(k for row in log_rows for k in row))
    loss_keys = [k for k in ("train_loss", "val_loss") if k in keys]
    dice_keys = [k for k in keys if k.startswith("val_dice")]
    fig = Figure(figsize=(10.0, 4.0), dpi=DPI, layout="constrained")
    ax_loss, ax_dice = fig.subplots(1, 2)
    for ax, plotted, ylabel in ((ax_loss, loss_keys, "loss"), (ax_dice, dice_keys, "Dice")):
        for key in plotted:
            xs, ys = _series(log_rows, key)
            ax.plot(xs, ys, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if plotted:
            ax.legend(fontsize=8)
    ax_loss.set_title("Loss")
    ax_dice.set_title("Validation Dice")
    return _to_png(fig)


def _series(rows: list[dict[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """x (epoch or index) and y for the rows that hold a finite ``key``."""
    pairs = [
        (float(r.get("epoch", i)), r[key]) for i, r in enumerate(rows) if r.get(key) is not None
    ]
    arr = np.array(pairs, dtype=np.float64).reshape(-1, 2)
    arr = arr[np.isfinite(arr[:, 1])]
    return arr[:, 0], arr[:, 1]
