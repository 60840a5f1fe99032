"""Model-free evaluation: prediction masks against reference masks, file against file."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medunet.data.cases import DatasetError, Problem, _by_stem, _files
from medunet.data.labels import LabelSet, resolve_labels
from medunet.data.validate import _reason
from medunet.distances import BoundaryMetrics, boundary_metrics, summarise_boundary
from medunet.io import ImageMeta, read_image, read_mask
from medunet.io.atomic import atomic_write_text
from medunet.io.raster import RASTER_SUFFIXES
from medunet.metrics import case_metrics, confusion_matrix, pixel_metrics, summarise_cases

log = logging.getLogger(__name__)

POLICY = {
    "empty_masks": "Per case and class, Dice and IoU are 1.0 when the class is absent from both "
                   "the reference and the prediction, 0.0 when it is in only one of them.",
    "present_only": "dice_present and foreground_dice_present average only over cases whose "
                    "reference contains the class, so predicting nothing is never rewarded.",
    "headline": "Pooled precision, recall and F1 are those of class 1 for binary tasks and "
                "scikit-learn's macro average over all classes otherwise.",
    "pooled_vs_mean": "Pooled metrics count every pixel of every case together (large structures "
                      "dominate); mean_case averages per-case values (each case counts once).",
}

DISTANCE_KEYS = ("hd95", "assd", "nsd")

DISTANCE_POLICY = (
    "Per case and foreground class, in distance_unit (mm from the reference's voxel spacing; px for "
    "2D raster files): HD95 is the 95th percentile of the union of both directed boundary-to-"
    "boundary distance sets, ASSD their mean, NSD the fraction of both boundaries within "
    "nsd_tolerance. Both masks empty: HD95 = ASSD = 0 and NSD = 1; exactly one empty: HD95 = ASSD "
    "= null (undefined; left out of the means and counted as 'undefined') and NSD = 0."
)


@dataclass(frozen=True)
class CaseFiles:
    """Files of one evaluated case."""

    case_id: str
    pred: Path
    ref: Path
    image: Path | None = None


@dataclass
class Evaluation:
    """Result of an evaluation: per-case confusion matrices and everything derived from them."""

    labels: LabelSet
    case_ids: list[str]
    matrices: list[np.ndarray]
    files: list[CaseFiles] | None = None
    #: ``i -> (image or None, reference, prediction)`` for the report's overlay gallery
    loader: Callable[[int], tuple[np.ndarray | None, np.ndarray, np.ndarray]] | None = None
    #: per case, per foreground class: HD95, ASSD, NSD; ``None`` when not computed
    distances: list[list[BoundaryMetrics]] | None = None
    #: ``"mm"``, ``"px"`` (2D rasters, no physical spacing) or ``"mixed"``
    distance_unit: str = "px"
    #: NSD tolerance, in ``distance_unit``
    nsd_tolerance: float = 1.0

    @property
    def pooled_matrix(self) -> np.ndarray:
        k = self.labels.num_classes
        return np.sum(self.matrices, axis=0) if self.matrices else np.zeros((k, k), np.int64)

    def per_case(self) -> list[dict[str, object]]:
        """One plain-data row per case (``metrics.json["per_case"]``)."""
        names = self.labels.names
        rows: list[dict[str, object]] = []
        for cid, cm in zip(self.case_ids, self.matrices, strict=True):
            m = case_metrics(cm)
            rows.append({
                "case": cid,
                "accuracy": float(m["accuracy"]),
                **{key: _per_class(m[key], names, float) for key in ("dice", "iou")},
                **{key: _per_class(m[key], names, int) for key in ("ref_pixels", "pred_pixels")},
            })
        if self.distances is not None:
            for row, dist in zip(rows, self.distances, strict=True):
                row.update({key: {n: d[key] for n, d in zip(names[1:], dist, strict=True)}  # type: ignore[literal-required]
                            for key in DISTANCE_KEYS})
        return rows

    def _distance_summary(self, distances: list[list[BoundaryMetrics]],
                          cases: Sequence[dict[str, np.ndarray | float]]) -> dict[str, object]:
        """``mean_case`` entries of the boundary metrics and the empty-mask counts per class."""
        fg = self.labels.names[1:]
        counts: dict[str, dict[str, int]] = {
            n: {"both_empty": 0, "reference_empty": 0, "prediction_empty": 0} for n in fg}
        for m in cases:
            ref_px, pred_px = np.asarray(m["ref_pixels"]), np.asarray(m["pred_pixels"])
            for i, n in enumerate(fg, start=1):
                if ref_px[i] == 0 or pred_px[i] == 0:
                    which = ("both_empty" if ref_px[i] == pred_px[i] else
                             "reference_empty" if ref_px[i] == 0 else "prediction_empty")
                    counts[n][which] += 1
        return {**summarise_boundary(distances, fg), "distance_empty_cases": counts}

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` document."""
        names = self.labels.names
        cm = self.pooled_matrix
        m = pixel_metrics(cm)
        n = int(cm.sum())
        binary = self.labels.num_classes == 2
        headline = {
            key: float(np.asarray(m[key])[1]) if binary else float(np.asarray(m[key]).mean())
            for key in ("precision", "recall", "f1")
        }
        keys = ("precision", "recall", "f1", "dice", "iou", "specificity")
        pooled = {
            "accuracy": float(m["accuracy"]),
            "background_accuracy": float(cm[0].sum() / n) if n else 0.0,
            **headline,
            "headline_average": "class 1" if binary else "macro",
            "foreground_dice": float(np.asarray(m["dice"])[1:].mean()),
            "confusion_matrix": cm.tolist(),
            "per_class": {
                name: {**{k: float(np.asarray(m[k])[i]) for k in keys},
                       "support": int(np.asarray(m["support"])[i])}
                for i, name in enumerate(names)
            },
        }
        cases = [case_metrics(c) for c in self.matrices]
        mean_case = summarise_cases(cases, names) if cases else {}
        doc: dict[str, Any] = {
            "labels": self.labels.to_dict(),
            "num_cases": len(self.case_ids),
            "policy": POLICY,
        }
        if self.distances is not None:
            doc["policy"] = {**POLICY, "distances": DISTANCE_POLICY}
            doc["distance_unit"] = self.distance_unit
            doc["nsd_tolerance"] = self.nsd_tolerance
            if cases:
                mean_case.update(self._distance_summary(self.distances, cases))
        doc.update({"pooled": pooled, "mean_case": mean_case, "per_case": self.per_case()})
        return doc


def _per_class(values: object, names: Sequence[str], cast: type) -> dict[str, object]:
    arr = np.asarray(values)
    return {n: cast(arr[i]) for i, n in enumerate(names)}


def evaluate_arrays(
    cases: Iterable[tuple[str, np.ndarray, np.ndarray]],
    labels: LabelSet,
    *,
    spacing: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    nsd_tolerance: float = 1.0,
    distances: bool = True,
) -> Evaluation:
    """Evaluate in-memory ``(case_id, reference, prediction)`` label arrays.

    Parameters
    ----------
    cases : iterable of (str, ndarray, ndarray)
        Case id, reference and prediction label maps ``(*S)`` with values ``0..K-1``.
    labels : LabelSet
    spacing : sequence of float or mapping of str to sequence of float, optional
        Voxel size in mm per array axis, for every case or per case id. ``None``: 1.0 per
        axis and distances in pixels (``distance_unit == "px"``).
    nsd_tolerance : float, optional
        Tolerance of the normalised surface Dice, in mm (in pixels without ``spacing``).
    distances : bool, optional
        Compute HD95, ASSD and NSD per case and foreground class (see
        :mod:`medunet.distances`); ``False`` keeps only the confusion matrices (faster).

    Raises
    ------
    ValueError
        A shape mismatch, a value outside ``labels`` or a spacing that does not fit the
        masks, naming the case; a negative ``nsd_tolerance``.

    Examples
    --------
    >>> ref = np.zeros((8, 8), np.int64); ref[2:6, 2:6] = 1
    >>> ev = evaluate_arrays([("a", ref, np.roll(ref, 1, axis=1))], LabelSet.from_count(2),
    ...                      spacing=(0.5, 0.5))
    >>> ev.per_case()[0]["hd95"], ev.distance_unit
    ({'class_1': 0.5}, 'mm')
    """
    if not (np.isfinite(nsd_tolerance) and nsd_tolerance >= 0):
        raise ValueError(f"nsd_tolerance must be a finite distance >= 0, got {nsd_tolerance!r}")
    ids, mats, dists = [], [], []
    for cid, ref, pred in cases:
        try:
            mats.append(confusion_matrix(ref, pred, labels.num_classes))
            if distances:
                dists.append(_case_distances(ref, pred, labels.num_classes,
                                             _spacing_for(spacing, cid), nsd_tolerance))
        except ValueError as exc:
            raise ValueError(f"case {cid}: {exc}") from exc
        ids.append(cid)
    return Evaluation(labels, ids, mats, distances=dists if distances else None,
                      distance_unit="px" if spacing is None else "mm",
                      nsd_tolerance=float(nsd_tolerance))


def _spacing_for(
    spacing: Sequence[float] | Mapping[str, Sequence[float]] | None, case_id: str
) -> Sequence[float] | None:
    """The spacing of one case: shared, looked up by case id, or ``None`` (1.0 per axis)."""
    if not isinstance(spacing, Mapping):
        return spacing
    if case_id not in spacing:
        raise ValueError(f"no spacing given for this case (spacing is a mapping of "
                         f"{len(spacing)} case id(s))")
    return spacing[case_id]


def _case_distances(ref: np.ndarray, pred: np.ndarray, k: int, spacing: Sequence[float] | None,
                    tolerance: float) -> list[BoundaryMetrics]:
    """HD95, ASSD and NSD of each foreground class ``1..k-1`` of one case."""
    return [boundary_metrics(ref == c, pred == c, spacing, tolerance) for c in range(1, k)]


def pair_predictions(
    pred_dir: Path, ref_dir: Path, images_dir: Path | None = None
) -> list[CaseFiles]:
    """Pair prediction and reference files by stem; list every unpaired file at once."""
    problems: list[Problem] = []
    for d in (pred_dir, ref_dir, images_dir):
        if d is not None and not d.is_dir():
            raise DatasetError([Problem(d, "folder does not exist")])
    preds = _strip(_by_stem(_files(pred_dir, problems), problems))
    refs = _strip(_by_stem(_files(ref_dir, problems), problems))
    images = _by_stem(_files(images_dir, problems), problems) if images_dir else {}
    out = []
    for stem, ref in sorted(refs.items()):
        if stem not in preds:
            problems.append(Problem(ref, f"no prediction for this reference in {pred_dir}"))
            continue
        out.append(CaseFiles(stem, preds[stem], ref, images.get(stem)))
    for stem, pred in sorted(preds.items()):
        if stem not in refs:
            problems.append(Problem(pred, f"prediction has no reference mask in {ref_dir}"))
    if not out and not problems:
        problems.append(Problem(ref_dir, "no reference masks found"))
    if problems:
        raise DatasetError(problems)
    return out


def _strip(by_stem: dict[str, Path]) -> dict[str, Path]:
    """Drop a ``_mask``/``_seg`` ending so ``x_mask.png`` pairs with ``x.png``."""
    out = {}
    for stem, p in by_stem.items():
        for suf in ("_mask", "_seg"):
            if stem.endswith(suf) and stem[: -len(suf)] not in by_stem:
                stem = stem[: -len(suf)]
                break
        out[stem] = p
    return out


def evaluate_dirs(
    pred_dir: str | os.PathLike[str],
    ref_dir: str | os.PathLike[str],
    *,
    labels: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    nsd_tolerance: float = 1.0,
) -> Evaluation:
    """Evaluate a folder of predicted masks against a folder of reference masks.

    Boundary distances (HD95, ASSD, NSD) use each reference file's voxel spacing, in mm; 2D
    raster files (PNG, TIFF, JPEG, BMP) have none, so their distances are in pixels
    (``metrics.json["distance_unit"] == "px"``).

    Parameters
    ----------
    pred_dir, ref_dir : path-like
        Masks paired by file stem (``x.png`` with ``x.png``, ``x_mask.png`` or ``x_seg.png``).
    labels : sequence of int, optional
        Declared label values; otherwise discovered from both folders (``0..max``).
    label_names : sequence of str, optional
    images_dir : path-like, optional
        Images for the overlay gallery of the report.
    nsd_tolerance : float, optional
        Tolerance of the normalised surface Dice in mm (pixels for raster files).

    Returns
    -------
    Evaluation

    Raises
    ------
    DatasetError
        Every unpaired, unreadable or mismatched file, one line each.
    """
    files = pair_predictions(Path(pred_dir), Path(ref_dir), Path(images_dir) if images_dir else None)
    declared = resolve_labels(None, labels, label_names)
    if declared is None:
        # a reference folder inside a dataset (DATA/test/masks) inherits DATA/dataset.json
        ref_root = Path(ref_dir).resolve()
        for root in (ref_root, ref_root.parent, ref_root.parent.parent):
            declared = resolve_labels(root, None, None)
            if declared is not None:
                break
    problems: list[Problem] = []
    arrays: list[tuple[str, np.ndarray, np.ndarray]] = []
    spacings: dict[str, tuple[float, ...]] = {}
    units: set[str] = set()
    for f in files:
        masks, metas = [], []
        for path in (f.ref, f.pred):  # report the file that failed, each one
            try:
                arr, meta = read_mask(path)
                masks.append(arr)
                metas.append(meta)
            except (OSError, ValueError) as exc:
                problems.append(Problem(path, _reason(exc, path)))
        if len(masks) < 2:
            continue
        ref, pred = masks
        raster = f.ref.name.lower().endswith(RASTER_SUFFIXES)
        spacing = _array_spacing(metas[0], ref.ndim, raster)
        if spacing is None:
            problems.append(Problem(f.ref, f"spacing {metas[0].spacing} does not have one value "
                                           f"per axis of the mask's shape {ref.shape}"))
            continue
        spacings[f.case_id] = spacing
        units.add("px" if raster else "mm")
        if ref.shape != pred.shape:
            problems.append(Problem(f.pred, f"prediction size {pred.shape} does not match reference "
                                            f"{f.ref.name} {ref.shape}"))
            continue
        if declared is not None:
            for which, arr, src in (("reference", ref, f.ref), ("prediction", pred, f.pred)):
                bad = sorted(set(np.unique(arr).tolist()) - set(declared.values))
                if bad:
                    problems.append(Problem(src, f"{which} value(s) {bad} outside the declared "
                                                  f"labels {list(declared.values)}"))
        arrays.append((f.case_id, ref, pred))
    if problems:
        raise DatasetError(problems)
    if declared is None:
        k = max(2, 1 + max(max(int(r.max()), int(p.max())) for _, r, p in arrays))
        declared = LabelSet.from_count(k, declared=False)
    ev = evaluate_arrays(arrays, declared, spacing=spacings, nsd_tolerance=nsd_tolerance)
    ev.distance_unit = units.pop() if len(units) == 1 else "mixed"
    if ev.distance_unit == "mixed":
        log.warning("references mix raster files (distances in px) and volumes (mm); "
                    "distance_unit is 'mixed'")
    ev.files = files

    def load(i: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        f = files[i]
        image = read_image(f.image)[0] if f.image is not None else None
        return image, read_mask(f.ref)[0], read_mask(f.pred)[0]

    ev.loader = load
    return ev


def _array_spacing(meta: ImageMeta, ndim: int, raster: bool) -> tuple[float, ...] | None:
    """Voxel size per **array** axis of a mask (1.0 each when the file has none), or ``None``
    when it does not fit. Volumes store it in SimpleITK's physical ``(x, y, z)`` order, the
    reverse of the array's ``(Z, Y, X)``; rasters in array order."""
    if not meta.spacing:
        return (1.0,) * ndim
    if len(meta.spacing) != ndim:
        return None
    spacing = tuple(float(s) for s in meta.spacing)
    return spacing if raster else spacing[::-1]


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
