"""Writing an evaluation: ``metrics.json``, ``metrics.csv`` and ``report.html``."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medunet.evaluation.arrays import DISTANCE_KEYS, Evaluation
from medunet.io.atomic import atomic_write_text
from medunet.metrics import case_metrics

log = logging.getLogger(__name__)


def write_evaluation(
    ev: Evaluation, out_dir: str | os.PathLike[str], *, gallery_size: int = 4,
    title: str = "medunet evaluation", extra_figures: dict[str, bytes] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.csv`` and ``report.html`` into ``out_dir``.

    The overlay gallery shows the ``gallery_size`` worst and best cases by foreground Dice
    when the evaluation knows the image files.
    """
    from medunet.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = ev.to_dict()
    paths = {"json": out / "metrics.json", "csv": out / "metrics.csv", "html": out / "report.html"}
    atomic_write_text(paths["json"], json.dumps(doc, indent=2))
    atomic_write_text(paths["csv"], _csv_text(doc["per_case"], ev.labels.names))
    write_report(doc, paths["html"], gallery=_gallery(ev, gallery_size), title=title,
                 extra_figures=extra_figures)
    log.info("wrote %s", paths["html"])
    return paths


def _csv_text(rows: list[dict[str, object]], names: Sequence[str]) -> str:
    buf = io.StringIO()
    header = ["case", "accuracy"] + [f"{m}_{n}" for m in ("dice", "iou", "ref_pixels", "pred_pixels")
                                     for n in names]
    dist = [(m, n) for m in DISTANCE_KEYS for n in names[1:]] if rows and "hd95" in rows[0] else []
    header += [f"{m}_{n}" for m, n in dist]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r["case"], repr(r["accuracy"])] + [
            r[m][n] for m in ("dice", "iou", "ref_pixels", "pred_pixels") for n in names  # type: ignore[index]
        ] + ["" if r[m][n] is None else r[m][n] for m, n in dist])  # type: ignore[index]
    return buf.getvalue()


def _gallery(ev: Evaluation, size: int) -> list:
    from medunet.report.gallery import pick_gallery

    fg = [float(np.mean(np.asarray(case_metrics(c)["dice"])[1:])) for c in ev.matrices]
    return pick_gallery(ev.case_ids, fg, ev.loader, size)
