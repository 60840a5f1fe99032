"""Matplotlib figures to PNG bytes, the same bytes for the same figure.

Report figures build a :class:`matplotlib.figure.Figure` directly (no ``pyplot``), so no global
backend or figure registry is touched and nothing needs closing by the caller; the PNG carries
no software/version metadata.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

__all__ = ["DPI", "to_png"]

DPI = 100


def to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes and release its memory."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return buf.getvalue()
