"""HTML building blocks of the report: numbers as text, escaped tables, inline images.

Every piece of text from outside (case ids, class names, titles, the model card) is escaped
here; :class:`Raw` marks markup this package built itself, which is passed through.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["Cell", "Raw", "details", "fmt", "img", "number", "table"]


class Raw(str):
    """HTML this package built (already escaped): tables insert it as it is."""


def fmt(value: object, digits: int = 3) -> str:
    """Number as text; None/NaN become an en dash."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return "–" if not math.isfinite(number) else f"{number:.{digits}f}"


class Cell(str):
    """A table cell with a sort key: ``value`` (a number, ``None`` when undefined) travels
    in ``data-v`` so a sorted column orders by the full-precision number, not its text."""

    value: float | None

    def __new__(cls, text: str, value: float | None) -> Cell:
        obj = super().__new__(cls, text)
        obj.value = value
        return obj


def number(value: float | int | None, digits: int = 3) -> Cell:
    """A numeric cell: the value shown with ``digits`` decimals, sorted by the exact value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Cell("–", None)
    return Cell(fmt(value, digits), float(value))


def _td(cell: str) -> str:
    """One ``<td>``: text escaped, :class:`Raw` kept, a :class:`Cell`'s sort key attached."""
    body = cell if isinstance(cell, Raw) else html.escape(cell)
    if isinstance(cell, Cell):
        key = "" if cell.value is None else repr(cell.value)
        return f'<td data-v="{key}">{body}</td>'
    return f"<td>{body}</td>"


def table(header: Iterable[str], rows: Iterable[Sequence[str]], *, cls: str = "",
          row_ids: Sequence[str] | None = None) -> str:
    """An HTML table; header and cells escaped unless :class:`Raw`."""
    head = "".join(f"<th>{h if isinstance(h, Raw) else html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        rid = f' id="{row_ids[i]}"' if row_ids is not None else ""
        body.append(f"<tr{rid}>" + "".join(_td(c) for c in row) + "</tr>\n")
    attr = f' class="{cls}"' if cls else ""
    # a wide table scrolls inside its box instead of widening the page
    return (f'<div class="table-wrap"><table{attr}><thead><tr>{head}</tr></thead><tbody>\n'
            f"{''.join(body)}</tbody></table></div>\n")


def img(png: bytes, alt: str, *, cls: str = "") -> str:
    """An inline ``<img>`` with the PNG as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    attr = f' class="{cls}"' if cls else ""
    return f'<img{attr} src="data:image/png;base64,{data}" alt="{html.escape(alt)}">\n'


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible section (works without JavaScript); ``summary`` is escaped, ``body`` is HTML."""
    state = " open" if open_ else ""
    return f"<details{state}><summary>{html.escape(summary)}</summary>\n{body}</details>\n"
