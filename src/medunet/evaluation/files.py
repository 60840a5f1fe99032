"""Evaluation of mask files against mask files: pairing by stem, reading, spacing."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medunet.data.cases import DatasetError, Problem, _by_stem, _files
from medunet.data.check import problem_from_error
from medunet.data.labels import LabelSet, resolve_labels
from medunet.evaluation.arrays import CaseFiles, Evaluation, evaluate_arrays
from medunet.io import read_image, read_mask
from medunet.io.meta import array_spacing
from medunet.io.raster import RASTER_SUFFIXES

log = logging.getLogger(__name__)


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


def _dataset_labels(ref_dir: Path) -> LabelSet | None:
    """A reference folder inside a dataset (``DATA/test/masks``) inherits ``DATA/dataset.json``."""
    ref_root = ref_dir.resolve()
    for root in (ref_root, ref_root.parent, ref_root.parent.parent):
        declared = resolve_labels(root, None, None)
        if declared is not None:
            return declared
    return None


def _read_pair(f: CaseFiles, declared: LabelSet | None, problems: list[Problem]
               ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], str] | None:
    """Reference, prediction, spacing per array axis and distance unit of one case, or ``None``
    after appending every problem found to ``problems``."""
    masks, metas = [], []
    for path in (f.ref, f.pred):  # report the file that failed, each one
        try:
            arr, meta = read_mask(path)
            masks.append(arr)
            metas.append(meta)
        except (OSError, ValueError) as exc:
            problems.append(problem_from_error(exc, [path]))
    if len(masks) < 2:
        return None
    ref, pred = masks
    raster = f.ref.name.lower().endswith(RASTER_SUFFIXES)
    if metas[0].spacing and len(metas[0].spacing) != ref.ndim:
        problems.append(Problem(f.ref, f"spacing {metas[0].spacing} does not have one value "
                                       f"per axis of the mask's shape {ref.shape}"))
        return None
    if ref.shape != pred.shape:
        problems.append(Problem(f.pred, f"prediction size {pred.shape} does not match reference "
                                        f"{f.ref.name} {ref.shape}"))
        return None
    if declared is not None:
        for which, arr, src in (("reference", ref, f.ref), ("prediction", pred, f.pred)):
            bad = sorted(set(np.unique(arr).tolist()) - set(declared.values))
            if bad:
                problems.append(Problem(src, f"{which} value(s) {bad} outside the declared "
                                              f"labels {list(declared.values)}"))
    return ref, pred, array_spacing(metas[0]), "px" if raster else "mm"


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
    declared = resolve_labels(None, labels, label_names) or _dataset_labels(Path(ref_dir))
    problems: list[Problem] = []
    arrays: list[tuple[str, np.ndarray, np.ndarray]] = []
    spacings: dict[str, tuple[float, ...]] = {}
    units: set[str] = set()
    for f in files:
        pair = _read_pair(f, declared, problems)
        if pair is None:
            continue
        ref, pred, spacing, unit = pair
        arrays.append((f.case_id, ref, pred))
        spacings[f.case_id] = spacing
        units.add(unit)
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
