"""Writing an evaluation: ``metrics.json``, ``metrics.csv``, ``lesions.csv`` and ``report.html``."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medunet.distances import DISTANCE_KEYS
from medunet.evaluation.arrays import CaseFiles, Evaluation
from medunet.evaluation.document import MetricsDocument
from medunet.evaluation.lesion_doc import LESION_CSV_COLUMNS, lesion_counts, lesion_csv_rows
from medunet.io import case_stem, read_image, read_mask
from medunet.io.atomic import atomic_write_text
from medunet.io.meta import UNCERTAINTY_SUFFIX

if TYPE_CHECKING:
    from medunet.report.extras import ReportExtras
    from medunet.report.gallery import Loader, UncertaintyLoader

log = logging.getLogger(__name__)

_PER_CLASS_COLUMNS = ("dice", "iou", "ref_pixels", "pred_pixels")
_LESION_COLUMNS = ("tp", "fp", "fn")


def write_evaluation(
    ev: Evaluation, out_dir: str | os.PathLike[str], *, loader: Loader | None = None,
    gallery_size: int = 4, title: str = "medunet evaluation", extras: ReportExtras | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.csv``, ``lesions.csv`` (with lesion-wise detection)
    and ``report.html`` into ``out_dir``.

    Parameters
    ----------
    ev : Evaluation
    out_dir : path-like
        Created if missing; the files are replaced atomically.
    loader : callable, optional
        ``i -> (image or None, reference, prediction)`` of case ``i`` for the gallery, e.g. the
        arrays a model saw. Default: read from :attr:`Evaluation.files` when the evaluation
        came from files, else no gallery. Cases of files with an uncertainty map
        (:func:`uncertainty_file`) show it as one more gallery panel.
    gallery_size : int, optional
        The overlay gallery shows the ``gallery_size`` worst and best cases by foreground Dice
        (fewer for volumes, three slices each); 0 leaves it out.
    title : str, optional
        Title of the report.
    extras : ReportExtras, optional
        What a training run adds to the report (figures such as the training curves, the
        plan, the model card).

    Returns
    -------
    dict of str to Path
        ``{"json": ..., "csv": ..., "html": ...}``, and ``"lesions"`` when the evaluation has
        lesion-wise detection.
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
    if doc.lesions is not None:
        paths["lesions"] = out / "lesions.csv"
        atomic_write_text(paths["lesions"], csv_table(LESION_CSV_COLUMNS,
                                                   lesion_csv_rows(doc.lesions, doc.labels.names)))
    unc = uncertainty_loader(ev.files) if ev.files is not None else None
    gallery = pick_gallery([r.case for r in doc.per_case], [r.foreground_dice for r in doc.per_case],
                           loader, gallery_size, unc)
    write_report(doc, paths["html"], gallery=gallery, title=title, extras=extras)
    log.info("wrote %s", paths["html"])
    return paths


def csv_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text: a header row, then ``rows``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _csv_text(doc: MetricsDocument) -> str:
    """``metrics.csv``: one row per case, a column per metric and class (``dice_<class>``, ...,
    then ``hd95_<class>``, ``assd_<class>``, ``nsd_<class>`` per foreground class when the
    document has distances, then ``lesion_tp_<class>``, ``lesion_fp_<class>``,
    ``lesion_fn_<class>`` with lesions, then ``uncertainty`` when predicted with it; an
    undefined distance is an empty cell)."""
    names = doc.labels.names
    fg = names[1:] if doc.per_case and doc.per_case[0].hd95 is not None else ()
    counts = lesion_counts(doc.lesions) if doc.lesions is not None else {}
    lesion_labels = [s.label for s in doc.lesions.pooled] if doc.lesions is not None else []
    unc = any(r.uncertainty is not None for r in doc.per_case)
    header = (["case", "accuracy"] + [f"{m}_{n}" for m in _PER_CLASS_COLUMNS for n in names]
              + [f"{m}_{n}" for m in DISTANCE_KEYS for n in fg]
              + [f"lesion_{m}_{names[lab]}" for m in _LESION_COLUMNS for lab in lesion_labels]
              + (["uncertainty"] if unc else []))
    rows = []
    for r in doc.per_case:
        per_class = (r.dice, r.iou, r.ref_pixels, r.pred_pixels)
        dist = (r.hd95, r.assd, r.nsd) if fg else ()
        rows.append([r.case, repr(r.accuracy)] + [values[n] for values in per_class for n in names]
                    + ["" if values is None or values[n] is None else values[n]
                       for values in dist for n in fg]
                    + [getattr(counts[r.case, lab], m) for m in _LESION_COLUMNS
                       for lab in lesion_labels]
                    + (["" if r.uncertainty is None else r.uncertainty] if unc else []))
    return csv_table(header, rows)


def case_loader(files: Sequence[CaseFiles]) -> Loader:
    """``i -> (image or None, reference, prediction)`` of case ``i``, read from its files (the
    report's overlay gallery reads only the cases it shows)."""

    def load(i: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        f = files[i]
        image = read_image(f.image)[0] if f.image is not None else None
        return image, read_mask(f.ref)[0], read_mask(f.pred)[0]

    return load


def uncertainty_file(files: CaseFiles) -> Path | None:
    """The uncertainty map of a case: ``files.uncertainty``, else the one file
    ``<pred stem>_uncertainty.*`` beside the prediction, else ``None``."""
    if files.uncertainty is not None:
        return files.uncertainty
    pred = Path(files.pred)
    stem = case_stem(pred) + UNCERTAINTY_SUFFIX
    found = sorted(p for p in pred.parent.iterdir()
                   if p.name.startswith(f"{stem}.") and p.is_file() and case_stem(p) == stem)
    return found[0] if found else None


def uncertainty_loader(files: Sequence[CaseFiles]) -> UncertaintyLoader:
    """``i -> uncertainty map of case i, or None`` (no map, or one that cannot be read: logged)."""

    def load(i: int) -> np.ndarray | None:
        path = uncertainty_file(files[i])
        if path is None:
            return None
        try:
            values = read_image(path)[0]
        except (OSError, ValueError) as err:
            log.warning("%s: uncertainty map not shown: %s", path, err)
            return None
        return values[0] if values.shape[0] == 1 else None

    return load
