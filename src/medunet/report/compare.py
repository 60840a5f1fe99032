"""The self-contained HTML page of ``medunet compare``: summary table, paired plots, sorted
differences and the cases where the methods disagree most (inline CSS and PNGs, no JavaScript)."""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from medunet.io.atomic import atomic_write_text
from medunet.report.markup import fmt, img, table
from medunet.report.overlays import Slice, class_styles, hstack, panels
from medunet.report.png import to_png
from medunet.report.raster import encode_png

if TYPE_CHECKING:  # the report renders a comparison; it never builds one
    from medunet.evaluation.compare_result import Comparison
    from medunet.evaluation.comparison import PairedComparison

__all__ = ["CaseView", "render_compare", "write_compare_report"]

log = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead th { background: #f3f3f3; }
.meta { color: #555; } .warn { background: #fff4e5; border-left: 4px solid #f0a030; padding: .5rem .8rem; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
"""
#: nothing external may load: the page is one file
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class CaseView:
    """One disagreement case: a 2D slice of the image, the reference and each method's labels."""

    case_id: str
    image: np.ndarray | None
    ref: np.ndarray
    preds: Mapping[str, np.ndarray]
    values: Mapping[str, float]

    @classmethod
    def of(cls, case_id: str, image: np.ndarray | None, ref: np.ndarray,
           preds: Mapping[str, np.ndarray], values: Mapping[str, float]) -> CaseView:
        """The view of a case; a volume ``(Z, Y, X)`` (image ``(C, Z, Y, X)``) is shown by the
        axial slice with the most reference (else predicted) foreground."""
        if ref.ndim == 2:
            return cls(case_id, image, ref, preds, values)
        def area(m: np.ndarray) -> np.ndarray:
            return (m > 0).reshape(m.shape[0], -1).sum(axis=1)

        per_slice = area(ref)
        if not per_slice.any():
            per_slice = sum((area(p) for p in preds.values()), np.zeros_like(per_slice))
        z = int(np.argmax(per_slice))
        return cls(f"{case_id} (axial {z})", None if image is None else image[:, z], ref[z],
                   {m: p[z] for m, p in preds.items()}, values)


def paired_figure(pair: PairedComparison, metric: str) -> bytes:
    """Method A (x) against method B (y) per case, with the diagonal of equal values."""
    a = np.array([d.a for d in pair.differences])
    b = np.array([d.b for d in pair.differences])
    fig = Figure(figsize=(4.2, 4.2))
    ax = fig.add_subplot()
    both = np.concatenate([a, b]) if a.size else np.array([0.0, 1.0])
    lo, hi = float(both.min()), float(both.max())
    pad = 0.05 * (hi - lo) or 0.05
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#888", lw=1, ls="--")
    ax.scatter(a, b, s=16, color="#0072b2", alpha=0.8)
    ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), aspect="equal",
           xlabel=f"{pair.method_a}: {metric}", ylabel=f"{pair.method_b}: {metric}")
    fig.tight_layout()
    return to_png(fig)


def differences_figure(pair: PairedComparison, metric: str) -> bytes:
    """The per-case differences ``B - A``, sorted, better for B in blue."""
    d = np.sort(np.array([x.difference for x in pair.differences]))
    better = d > 0 if pair.higher_is_better else d < 0
    fig = Figure(figsize=(7.0, 3.0))
    ax = fig.add_subplot()
    ax.bar(np.arange(d.size), d, width=0.9, color=np.where(better, "#0072b2", "#d55e00"))
    ax.axhline(0.0, color="#444", lw=0.8)
    ax.set(xlabel="cases, sorted by difference", xticks=[],
           ylabel=f"{metric}: {pair.method_b} − {pair.method_a}")
    fig.tight_layout()
    return to_png(fig)


def _views_png(view: CaseView) -> bytes:
    """The case's image with the reference (solid) and each method's contours (dashed),
    side by side in the order of ``view.preds``."""
    fg = sorted({int(v) for m in (view.ref, *view.preds.values()) for v in np.unique(m) if v})
    styles = class_styles(fg or [1])
    strips = [panels(Slice(view.case_id, view.image, view.ref, pred), styles,
                     which=("overlay",))[0] for pred in view.preds.values()]
    return encode_png(hstack(strips))


def _ci_text(pair: PairedComparison) -> str:
    """``[low, high]`` of the mean difference, flagged when unreliable."""
    ci = pair.mean_difference
    text = f"[{fmt(ci.low, 4)}, {fmt(ci.high, 4)}]"
    return text if ci.reliable else f"{text} (unreliable: {ci.n_units} {ci.unit}s)"


def _summary(c: Comparison) -> str:
    """One row per pair: means, mean difference with CI, Wilcoxon p-value, wins/ties/losses."""
    level = f"{c.pairs[0].mean_difference.level:.0%}" if c.pairs else "95%"
    header = ["comparison", "cases", "mean A", "mean B", "mean B − A", f"{level} CI",
              "Wilcoxon p", "wins / ties / losses (B)", "excluded"]
    rows = [[f"{p.method_b} vs {p.method_a}", fmt(p.n_cases), fmt(p.mean_a, 4), fmt(p.mean_b, 4),
             fmt(p.mean_difference.estimate, 4), _ci_text(p), fmt(p.wilcoxon.p_value, 4),
             f"{p.wins} / {p.ties} / {p.losses}", fmt(len(p.excluded))] for p in c.pairs]
    return "<h2>Summary</h2>\n" + table(header, rows)


def _pair_section(c: Comparison, pair: PairedComparison, views: Sequence[CaseView]) -> str:
    """Paired plot, sorted differences and the largest disagreements of one pair."""
    parts = [f"<h2>{html.escape(pair.method_b)} vs {html.escape(pair.method_a)}</h2>\n",
             img(paired_figure(pair, c.metric), "paired values"),
             img(differences_figure(pair, c.metric), "sorted differences")]
    top = pair.disagreements[:10]
    parts.append("<h3>Where they disagree most</h3>\n" + table(
        ["case", pair.method_a, pair.method_b, "B − A"],
        [[d.case_id, fmt(d.a, 4), fmt(d.b, 4), fmt(d.difference, 4)] for d in top]))
    for v in views:
        if set(v.preds) == {pair.method_a, pair.method_b}:
            caption = ", ".join(f"{m}: {fmt(x, 4)}" for m, x in v.values.items())
            parts.append(f"<p>{html.escape(v.case_id)} — {html.escape(caption)} "
                         f"(left: {html.escape(pair.method_a)}, right: "
                         f"{html.escape(pair.method_b)}; solid: reference, dashed: "
                         f"prediction)</p>\n" + img(_views_png(v), v.case_id))
    return "".join(parts)


def render_compare(c: Comparison, *, views: Sequence[CaseView] = ()) -> str:
    """The page's HTML text; see :func:`write_compare_report`."""
    methods = ", ".join(f"{m} ({f})" for m, f in zip(c.methods, c.folders, strict=True))
    better = "higher" if c.higher_is_better else "lower"
    body = [f"<h1>medunet comparison — {html.escape(c.metric)}</h1>\n",
            f'<p class="meta">{fmt(len(c.case_ids))} cases of {html.escape(str(c.reference))} '
            f"&middot; methods: {html.escape(methods)} &middot; {better} is better</p>\n",
            _summary(c)]
    if any(not p.mean_difference.reliable for p in c.pairs):
        body.append(f'<p class="warn">{html.escape(c.pairs[0].mean_difference.note)}</p>\n')
    body += [_pair_section(c, p, views) for p in c.pairs]
    body.append("<h2>How to read this</h2>\n<p>Differences are B − A per case, on the cases both "
                "methods define. The CI is a bootstrap interval of the mean difference; the "
                "p-value is the two-sided Wilcoxon signed-rank test (scipy.stats.wilcoxon, zero "
                "differences dropped); a win is a case where B is better than A.</p>\n")
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            f"<title>medunet comparison</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{''.join(body)}</body>\n</html>\n")


def write_compare_report(c: Comparison, path: str | os.PathLike[str], *,
                         views: Sequence[CaseView] = ()) -> Path:
    """Write the comparison page (atomically) and return its path.

    Parameters
    ----------
    c : Comparison
    path : path-like
    views : sequence of CaseView, optional
        Disagreement cases to draw (the methods of a view name the pair it belongs to).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_compare(c, views=views)
    atomic_write_text(out, text)
    log.info("wrote comparison report %s (%d bytes)", out, len(text))
    return out
