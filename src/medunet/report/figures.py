"""Report figures rendered to PNG bytes: the confusion matrix, per-case distributions and the
training curves (the overlay gallery is in :mod:`medunet.report.overlays`).

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so no global
backend or figure registry is touched and nothing needs closing by the caller. Output is
deterministic: jitter is seeded and the PNG carries no software/version metadata.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from medunet.report.png import DPI
from medunet.report.png import to_png as _to_png

logger = logging.getLogger(__name__)


def _compact(value: float) -> str:
    """A count as short text: ``950``, ``12.3k``, ``4.5M``, ``1.2G``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{suffix}"
    return f"{value:.0f}"


#: characters per line of a wrapped class name on the confusion matrix's axes
_WRAP = 16
_TICK_FONT = 8  # points
_LINE_IN = 1.25 * _TICK_FONT / 72  # height of one line of tick text, inches
_TITLE_FONT = 10
_FRACTION_TITLE = ("row-normalised", "(recall per reference class)")


def _wrap(name: str) -> str:
    """A class name broken into lines of at most ``_WRAP`` characters."""
    return "\n".join(textwrap.wrap(name, _WRAP, break_long_words=True)) or name


def _heatmap(ax: Axes, values: np.ndarray, texts: list[list[str]], names: list[str], *,
             row_names: bool, fontsize: float) -> None:
    """Draw an annotated heat map with reference rows and prediction columns.

    Column names are written vertically, so each takes one cell's width however long it is;
    row names only on the left map (the right one shares its rows). Names are plain text,
    never mathtext (a ``$`` in a class name stays a dollar sign).
    """
    norm = values / values.max() if values.max() > 0 else values
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(names))
    wrapped = [_wrap(n) for n in names]
    ax.set_xticks(ticks, labels=wrapped, rotation=90, fontsize=_TICK_FONT, parse_math=False)
    ax.set_yticks(ticks, labels=wrapped if row_names else [], fontsize=_TICK_FONT,
                  parse_math=False)
    ax.set_xlabel("prediction")
    if row_names:
        ax.set_ylabel("reference")
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            colour = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=fontsize)


def draw_confusion(cm: np.ndarray, names: list[str]) -> Figure:
    """The confusion-matrix figure of :func:`confusion_figure`, not yet rendered.

    Sized so that nothing collides: a cell is wide enough for the wrapped column names
    (written vertically) and for its number, and the figure tall and wide enough for the
    longest wrapped name, so no tick label overlaps the next and no title is cut off.
    """
    counts = np.asarray(cm, dtype=np.float64)
    k = len(names)
    if counts.shape != (k, k):
        raise ValueError(
            f"confusion matrix has shape {counts.shape}, expected ({k}, {k}) for {names}"
        )
    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    lines = max(_wrap(n).count("\n") + 1 for n in names)
    cell = max(0.55, lines * _LINE_IN + 0.15)
    # width of the longest wrapped line, at about 0.6 em per character
    label_in = max(min(len(n), _WRAP) for n in names) * 0.65 * _TICK_FONT / 72 + 0.3
    side = k * cell
    # a map is at least as wide as its longer title line, "(recall per reference class)"
    width = max(side, len(_FRACTION_TITLE[1]) * 0.6 * _TITLE_FONT / 72 + 0.2)
    fig = Figure(figsize=(2 * width + label_in + 1.4, side + label_in + 1.9), dpi=DPI,
                 layout="constrained")
    ax_counts, ax_frac = fig.subplots(1, 2)
    fontsize = min(9.0, 72 * cell / 4.2)  # "850.6k" within one cell
    _heatmap(ax_counts, counts, [[_compact(v) for v in row] for row in counts], names,
             row_names=True, fontsize=fontsize)
    ax_counts.set_title("pixel counts", fontsize=_TITLE_FONT)
    _heatmap(ax_frac, fractions, [[f"{v:.3f}" for v in row] for row in fractions], names,
             row_names=False, fontsize=fontsize)
    ax_frac.set_title("\n".join(_FRACTION_TITLE), fontsize=_TITLE_FONT)
    return fig


def confusion_figure(cm: np.ndarray, names: list[str]) -> bytes:
    """Confusion matrix as counts and row-normalised fractions, side by side.

    Parameters
    ----------
    cm : np.ndarray
        (K, K) pixel counts; rows are the reference class, columns the predicted class.
    names : list of str
        K class names, in label order; long names are wrapped, never overlapping.

    Returns
    -------
    bytes
        PNG image.

    Raises
    ------
    ValueError
        If ``cm`` is not square or does not match ``names``.
    """
    return _to_png(draw_confusion(cm, names))


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


class TrainingLogRow(Protocol):
    """What :func:`curves_figure` reads of a training log row (a :class:`medunet.training.LogRow`)."""

    @property
    def epoch(self) -> int: ...
    @property
    def train_loss(self) -> float: ...
    @property
    def val_dice_fg(self) -> float: ...
    @property
    def val_dice_fg_case_present(self) -> float: ...
    @property
    def val_dice(self) -> Mapping[str, float]: ...


def curves_figure(log_rows: Sequence[TrainingLogRow]) -> bytes:
    """Training curves: the training loss on the left, validation Dice on the right.

    Parameters
    ----------
    log_rows : sequence of LogRow
        One row per epoch (:class:`medunet.training.LogRow`; ``medunet.training.run_dir.read_log``
        reads ``log.csv``). Dice curves: pooled foreground, mean over cases with the class, and
        pooled per class; non-finite values are left out.

    Returns
    -------
    bytes
        PNG image.
    """
    epochs = np.array([r.epoch for r in log_rows], dtype=np.float64)
    dice = {"val_dice_fg": [r.val_dice_fg for r in log_rows],
            "val_dice_fg_case_present": [r.val_dice_fg_case_present for r in log_rows]}
    for name in dict.fromkeys(n for r in log_rows for n in r.val_dice):
        dice[f"val_dice_{name}"] = [r.val_dice.get(name, np.nan) for r in log_rows]
    losses = {"train_loss": [r.train_loss for r in log_rows]}
    fig = Figure(figsize=(10.0, 4.0), dpi=DPI, layout="constrained")
    ax_loss, ax_dice = fig.subplots(1, 2)
    for ax, plotted, ylabel in ((ax_loss, losses, "loss"), (ax_dice, dice, "Dice")):
        for key, values in plotted.items():
            ys = np.asarray(values, dtype=np.float64)
            ax.plot(epochs[np.isfinite(ys)], ys[np.isfinite(ys)], marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if log_rows:
            ax.legend(fontsize=8)
    ax_loss.set_title("Loss")
    ax_dice.set_title("Validation Dice")
    return _to_png(fig)
