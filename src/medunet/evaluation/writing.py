"""Writing an evaluation: ``metrics.json``, ``metrics.csv`` and ``report.html``."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from medunet.distances import DISTANCE_KEYS
from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.document import MetricsDocument
from medunet.evaluation.files import case_loader
from medunet.io.atomic import atomic_write_text

if TYPE_CHECKING:
    from medunet.report.gallery import Loader

log = logging.getLogger(__name__)

_PER_CLASS_COLUMNS = ("dice", "iou", "ref_pixels", "pred_pixels")


def write_evaluation(
    ev: Evaluation, out_dir: str | os.PathLike[str], *, gallery_size: int = 4,
    loader: Loader | None = None, title: str = "medunet evaluation",
    extra_figures: dict[str, bytes] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.csv`` and ``report.html`` into ``out_dir``.

    Parameters
    ----------
    ev : Evaluation
    out_dir : path-like
        Created if missing; the three files are replaced atomically.
    gallery_size : int, optional
        The overlay gallery shows the ``gallery_size`` worst and best cases by foreground Dice
        (fewer for volumes, three slices each); 0 leaves it out.
    loader : callable, optional
        ``i -> (image or None, reference, prediction)`` of case ``i`` for the gallery, e.g. the
        arrays a model saw. Default: read from :attr:`Evaluation.files` when the evaluation
        came from files, else no gallery.
    title : str, optional
        Title of the report.
    extra_figures : dict of str to bytes, optional
        Heading -> PNG, added to the report (e.g. training curves).

    Returns
    -------
    dict of str to Path
        ``{"json": ..., "csv": ..., "html": ...}``.
    """
    # the report draws with matplotlib, which only writing needs: imported here, not with the stage
    from medunet.report import write_report
    from medunet.report.gallery import pick_gallery

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = ev.document()
    if loader is None and ev.files is not None:
        loader = case_loader(ev.files)
    paths = {"json": out / "metrics.json", "csv": out / "metrics.csv", "html": out / "report.html"}
    atomic_write_text(paths["json"], json.dumps(doc.to_dict(), indent=2))
    atomic_write_text(paths["csv"], _csv_text(doc))
    gallery = pick_gallery([r.case for r in doc.per_case], [r.foreground_dice for r in doc.per_case],
                           loader, gallery_size)
    write_report(doc, paths["html"], gallery=gallery, title=title, extra_figures=extra_figures)
    log.info("wrote %s", paths["html"])
    return paths


def _csv_text(doc: MetricsDocument) -> str:
    """``metrics.csv``: one row per case, a column per metric and class (``dice_<class>``, ...,
    then ``hd95_<class>``, ``assd_<class>``, ``nsd_<class>`` per foreground class when the
    document has distances; an undefined distance is an empty cell)."""
    names = doc.labels.names
    fg = names[1:] if doc.per_case and doc.per_case[0].hd95 is not None else ()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["case", "accuracy"] + [f"{m}_{n}" for m in _PER_CLASS_COLUMNS for n in names]
               + [f"{m}_{n}" for m in DISTANCE_KEYS for n in fg])
    for r in doc.per_case:
        per_class = (r.dice, r.iou, r.ref_pixels, r.pred_pixels)
        dist = (r.hd95, r.assd, r.nsd) if fg else ()
        w.writerow([r.case, repr(r.accuracy)] + [values[n] for values in per_class for n in names]
                   + ["" if values is None or values[n] is None else values[n]
                      for values in dist for n in fg])
    return buf.getvalue()

