"""The run report's validation warnings and its "Model selection and post-processing" section.

Both read :class:`~medunet.report.extras.ReportExtras`: ``notes`` (e.g. that validation is
optimistic) are shown under the title; ``selection`` (``RUN/postprocessing.json`` as plain data)
gives the validation curve the best epoch was chosen on, with that epoch marked, and every
post-processing step tried with the Dice before and after it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from medunet.report.extras import ReportExtras
from medunet.report.markup import fmt, img, table
from medunet.report.png import DPI, to_png

__all__ = ["selection_figure", "selection_section", "validation_notes"]


def selection_figure(selection: Mapping[str, Any]) -> bytes:
    """The validation curve (pooled foreground Dice per epoch), its moving average and the
    chosen epoch marked; PNG bytes."""
    epochs = np.asarray(selection.get("epochs", []), dtype=np.float64)
    curve = np.asarray(selection.get("val_dice_fg", []), dtype=np.float64)
    fig = Figure(figsize=(6.0, 3.6), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    ok = np.isfinite(curve)
    ax.plot(epochs[ok], curve[ok], marker="o", markersize=3, label="val_dice_fg (pooled)")
    if selection.get("ema"):
        ax.plot(epochs, selection["ema"], linestyle="--", linewidth=1,
                label=f"moving average (alpha {selection.get('ema_alpha')})")
    best, value = selection.get("epoch"), selection.get("value")
    if best is not None and value is not None:
        ax.plot([best], [value], marker="*", markersize=14, color="crimson", linestyle="none",
                label=f"chosen: epoch {best}")
        ax.axvline(best, color="crimson", alpha=0.3)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Dice")
    ax.set_title("Model selection")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_png(fig)


def validation_notes(extras: ReportExtras | None) -> str:
    """The run's validation warnings as a highlighted list ("" without any)."""
    if extras is None or not extras.notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>\n" for n in extras.notes)
    return f'<div class="notes"><strong>Validation</strong><ul>\n{items}</ul></div>\n'


def _steps_table(post: Mapping[str, Any]) -> str:
    rows = [(str(s["step"]), str(s["class"]), fmt(s["value"]), "kept" if s["kept"] else "rejected",
             fmt(s["mean_before"], 4), fmt(s["mean_after"], 4)) for s in post.get("steps", [])]
    if not rows:
        return "<p>No step could be tried (no foreground in the validation references).</p>\n"
    return table(("step", "class", "value", "decision", "mean Dice before", "mean Dice after"),
                 rows, cls="postprocessing")


def _postprocessing(post: Mapping[str, Any]) -> str:
    status = post.get("status")
    if status != "chosen":
        return (f"<p><strong>Post-processing {html.escape(str(status))}:</strong> "
                f"{html.escape(str(post.get('reason', '')))} Predictions use argmax.</p>\n")
    return (f"<p>Post-processing chosen on the validation cases ({html.escape(str(post.get('rule')))}"
            f"; metric: {html.escape(str(post.get('metric')))}): "
            f"<strong>{html.escape(str(post.get('description')))}</strong>. Mean Dice: argmax "
            f"{fmt(post.get('mean_argmax'), 4)}, final {fmt(post.get('mean_final'), 4)}. Stored in "
            "<code>best.pt</code> and <code>postprocessing.json</code>; prediction applies it.</p>\n"
            + _steps_table(post))


def selection_section(extras: ReportExtras | None) -> str:
    """The section: rule, curve with the chosen epoch, post-processing steps ("" without data)."""
    if extras is None or not extras.selection:
        return ""
    sel = extras.selection
    parts = ['<h2 id="selection">Model selection and post-processing</h2>\n']
    model = sel.get("model_selection")
    if model:
        parts.append(f"<p>{html.escape(str(model.get('rule')))}: epoch {fmt(model.get('epoch'))} "
                     f"(Dice {fmt(model.get('value'), 4)}); the moving average peaks at epoch "
                     f"{fmt(model.get('ema_epoch'))}.</p>\n")
        parts.append(img(selection_figure(model), "validation curve with the chosen epoch"))
    parts.append(_postprocessing(sel))
    return "".join(parts)
