"""Writing a comparison: ``compare.json``, ``compare.csv`` and ``report.html``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from medunet.evaluation.arrays import CaseFiles
from medunet.evaluation.writing import csv_table
from medunet.io import read_image, read_mask
from medunet.io.atomic import atomic_write_text

if TYPE_CHECKING:
    from medunet.evaluation.compare_result import Comparison
    from medunet.report.compare import CaseView

log = logging.getLogger(__name__)

#: cases with overlays per pair in the report (the largest non-zero |differences|)
DISAGREEMENTS_SHOWN = 3


def write_comparison(c: Comparison, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``compare.json``, ``compare.csv`` and ``report.html`` into ``out_dir``.

    The report shows overlays of the cases where the methods disagree most when the
    evaluations have images (``compare(..., images=...)``).

    Returns
    -------
    dict of str to Path
        ``{"json": ..., "csv": ..., "html": ...}``.
    """
    # the report draws with matplotlib, which only writing needs: imported here
    from medunet.report.compare import write_compare_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "compare.json", "csv": out / "compare.csv", "html": out / "report.html"}
    atomic_write_text(paths["json"], json.dumps(c.to_dict(), indent=2))
    rows = c.csv_rows()
    atomic_write_text(paths["csv"], csv_table([str(h) for h in rows[0]], rows[1:]))
    write_compare_report(c, paths["html"], views=_views(c))
    log.info("wrote %s", paths["html"])
    return paths


def _views(c: Comparison) -> list[CaseView]:
    """The disagreement cases of every pair, read from their files (none without images)."""
    from medunet.report.compare import CaseView  # with the report: matplotlib

    by_case: list[dict[str, CaseFiles]] = []
    for ev in c.evaluations:
        if not ev.files or ev.files[0].image is None:
            return []
        by_case.append({f.case_id: f for f in ev.files})
    views = []
    for pair in c.pairs:
        a, b = c.methods.index(pair.method_a), c.methods.index(pair.method_b)
        for d in [d for d in pair.disagreements if d.difference][:DISAGREEMENTS_SHOWN]:
            fa, fb = by_case[a][d.case_id], by_case[b][d.case_id]
            image = read_image(fa.image)[0] if fa.image is not None else None
            preds = {pair.method_a: read_mask(fa.pred)[0], pair.method_b: read_mask(fb.pred)[0]}
            views.append(CaseView.of(d.case_id, image, read_mask(fa.ref)[0], preds,
                                     {pair.method_a: d.a, pair.method_b: d.b}))
    return views
