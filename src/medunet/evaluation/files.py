"""Evaluation of mask files against mask files: pairing by stem, reading, geometry, spacing.

Prediction folders are taken as other tools write them: files that are not masks of a known
format (nnU-Net's ``dataset.json``, ``plans.json``, ``predict_from_raw_data_args.json``, its
``.npz``/``.pkl`` probabilities) are skipped with one log line per folder; a mask file without a
reference stays an error. Volume pairs must share their grid (spacing, origin, direction), or be
resampled onto the reference grid on request (:mod:`medunet.evaluation.geometry`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from medunet.data.cases import DatasetError, Problem, _by_stem, _files
from medunet.data.check import problem_from_error
from medunet.data.labels import LabelSet, resolve_labels
from medunet.distances import DistanceSettings
from medunet.evaluation.arrays import CaseFiles, Evaluation, evaluate_arrays
from medunet.evaluation.defaults import DEFAULT_BOOTSTRAP, DEFAULT_DISTANCE, DEFAULT_LESIONS
from medunet.evaluation.document import DistanceUnit
from medunet.evaluation.geometry import GeometryPolicy, describe_grid, resample_to_reference
from medunet.evaluation.groups import GroupSpec, resolve_groups
from medunet.evaluation.intervals import BootstrapOptions
from medunet.evaluation.lesions import LesionSettings
from medunet.io import ImageMeta, case_stem, geometry_difference, is_supported, read_mask
from medunet.io.meta import UNCERTAINTY_SUFFIX, array_spacing
from medunet.io.raster import RASTER_SUFFIXES

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class PairArrays(NamedTuple):
    """One case read for evaluation: both label arrays on the reference grid."""

    ref: np.ndarray
    #: the prediction, on the reference grid (resampled when ``resampled``)
    pred: np.ndarray
    #: voxel size per array axis (1.0 each for 2D rasters)
    spacing: tuple[float, ...]
    #: ``"mm"`` for volumes, ``"px"`` for 2D rasters (no physical spacing)
    unit: Literal["mm", "px"]
    #: the prediction was resampled onto the reference grid (nearest neighbour)
    resampled: bool


def pair_predictions(
    pred_dir: Path, ref_dir: Path, images_dir: Path | None = None
) -> list[CaseFiles]:
    """Pair prediction and reference files by stem; list every unpaired file at once.

    Files that are not masks of a supported format are skipped (one log line per folder).
    """
    problems: list[Problem] = []
    for d in (pred_dir, ref_dir, images_dir):
        if d is not None and not d.is_dir():
            raise DatasetError([Problem(d, "folder does not exist")])
    preds = _strip(_by_stem(_mask_files(pred_dir, problems), problems))
    refs = _strip(_by_stem(_mask_files(ref_dir, problems), problems))
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


def _mask_files(folder: Path, problems: list[Problem]) -> list[Path]:
    """The mask files of ``folder``; other tools' side files (JSON, ``.npz``, ``.pkl``, ...) and
    medunet's own ``<case>_uncertainty.*`` maps are skipped, unreadable entries stay problems."""
    found: list[Problem] = []
    files = [f for f in _files(folder, found) if not case_stem(f).endswith(UNCERTAINTY_SUFFIX)]
    # a regular file of an unknown type is a side file, not a broken mask
    side = [p for p in found if p.path.is_file() and not is_supported(p.path)]
    problems.extend(p for p in found if p not in side)
    if side:
        names = [p.path.name for p in side]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        log.info("%s: skipped %d file(s) that are not masks: %s%s", folder, len(names),
                 ", ".join(names[:5]), more)
    return files


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


def _read_pair(f: CaseFiles, declared: LabelSet | None, problems: list[Problem], *,
               geometry: GeometryPolicy = "check") -> PairArrays | None:
    """Both masks of one case on the reference grid, or ``None`` after appending every problem
    found to ``problems``; ``geometry="resample"`` resamples a volume prediction whose grid
    differs instead of refusing it."""
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
    if metas[0].spacing and len(metas[0].spacing) != ref.ndim:
        problems.append(Problem(f.ref, f"spacing {metas[0].spacing} does not have one value "
                                       f"per axis of the mask's shape {ref.shape}"))
        return None
    on_grid = _on_reference_grid(f, pred, metas[0], metas[1], geometry, problems)
    if on_grid is None:
        return None
    pred, resampled = on_grid
    if declared is not None:
        for which, arr, src in (("reference", ref, f.ref), ("prediction", pred, f.pred)):
            bad = sorted(set(np.unique(arr).tolist()) - set(declared.values))
            if bad:
                problems.append(Problem(src, f"{which} value(s) {bad} outside the declared "
                                              f"labels {list(declared.values)}"))
    raster = f.ref.name.lower().endswith(RASTER_SUFFIXES)
    return PairArrays(ref, pred, array_spacing(metas[0]), "px" if raster else "mm", resampled)


def _on_reference_grid(f: CaseFiles, pred: np.ndarray, ref_meta: ImageMeta, pred_meta: ImageMeta,
                       geometry: GeometryPolicy, problems: list[Problem]
                       ) -> tuple[np.ndarray, bool] | None:
    """The prediction on the reference grid and whether it was resampled, or ``None`` after
    appending the problem; 2D rasters have no geometry beyond their shape."""
    volumes = ref_meta.mode == "volume" and pred_meta.mode == "volume"
    if not volumes or len(ref_meta.spacing) != len(pred_meta.spacing):
        if tuple(pred.shape) == tuple(ref_meta.shape):
            return pred, False
        problems.append(Problem(f.pred, f"prediction size {pred.shape} does not match reference "
                                        f"{f.ref.name} {tuple(ref_meta.shape)}"))
        return None
    if geometry_difference(ref_meta, pred_meta) is None:
        return pred, False
    if geometry == "resample":
        log.info("%s: prediction resampled onto the grid of %s (nearest)", f.case_id, f.ref.name)
        return resample_to_reference(pred, pred_meta, ref_meta), True
    problems.append(Problem(f.pred, f"prediction grid ({describe_grid(pred_meta)}) differs from "
                                    f"reference {f.ref.name} ({describe_grid(ref_meta)}); fix the "
                                    "writer, or resample onto the reference grid with "
                                    "--resample-to-reference (nearest)"))
    return None


def evaluate_dirs(
    pred_dir: str | os.PathLike[str],
    ref_dir: str | os.PathLike[str],
    *,
    labels: LabelSet | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    distance: DistanceSettings = DEFAULT_DISTANCE,
    distances: bool = True,
    geometry: GeometryPolicy = "check",
    lesions: LesionSettings | None = DEFAULT_LESIONS,
    bootstrap: BootstrapOptions | None = DEFAULT_BOOTSTRAP,
    group_by: GroupSpec | None = None,
) -> Evaluation:
    """Evaluate a folder of predicted masks against a folder of reference masks.

    Boundary distances (HD95, ASSD, NSD) and lesion sizes use each reference file's voxel
    spacing, in mm; 2D raster files (PNG, TIFF, JPEG, BMP) have none, so their distances are
    in pixels (``metrics.json["distance_unit"] == "px"``) and lesion sizes in pixels.

    Parameters
    ----------
    pred_dir, ref_dir : path-like
        Masks paired by file stem (``x.png`` with ``x.png``, ``x_mask.png`` or ``x_seg.png``).
    labels : LabelSet, optional
        Declared labels (values outside them are problems); otherwise those of the
        ``dataset.json`` of the dataset ``ref_dir`` lies in, else discovered from both
        folders (``0..max``).
    images_dir : path-like, optional
        Images for the overlay gallery of the report.
    distance, distances, lesions, bootstrap
        As for :func:`~medunet.evaluation.arrays.evaluate_arrays`.
    geometry : {"check", "resample"}, optional
        A volume prediction on another grid than its reference is a problem (``"check"``), or
        is resampled onto the reference grid, nearest neighbour (``"resample"``; each such case
        gets a note in the document).
    group_by : str, compiled regex or mapping of str to str, optional
        Groups of cases (patients) the bootstrap resamples: a regex on the case ids (first
        capturing group) or a ``{case id: group}`` mapping. Default: the ``"groups"`` entry of
        the dataset's ``dataset.json`` when there is one (see :mod:`medunet.evaluation.groups`),
        else cases.

    Returns
    -------
    Evaluation
        With the files of each case (:attr:`Evaluation.files`).

    Raises
    ------
    DatasetError
        Every unpaired, unreadable or mismatched file, one line each.
    ValueError
        A grouping that does not cover every case.

    Examples
    --------
    >>> ev = evaluate_dirs("preds/", "refs/", labels=LabelSet.from_values([0, 1], ["bg", "tumour"]))  # doctest: +SKIP
    """
    files = pair_predictions(Path(pred_dir), Path(ref_dir), Path(images_dir) if images_dir else None)
    return evaluate_files(files, labels=labels or _dataset_labels(Path(ref_dir)),
                          dataset_dir=ref_dir, distance=distance, distances=distances,
                          geometry=geometry, lesions=lesions, bootstrap=bootstrap, group_by=group_by)


def evaluate_files(
    files: Sequence[CaseFiles],
    *,
    labels: LabelSet | None,
    dataset_dir: str | os.PathLike[str],
    distance: DistanceSettings = DEFAULT_DISTANCE,
    distances: bool = True,
    geometry: GeometryPolicy = "check",
    lesions: LesionSettings | None = DEFAULT_LESIONS,
    bootstrap: BootstrapOptions | None = DEFAULT_BOOTSTRAP,
    group_by: GroupSpec | None = None,
) -> Evaluation:
    """Evaluate already paired files (see :func:`evaluate_dirs` for the parameters).

    ``dataset_dir`` is where the ``dataset.json`` that may give groups is looked for (the
    folder itself, its parent or grandparent); ``labels`` ``None`` discovers ``0..max``.
    """
    declared = labels
    problems: list[Problem] = []
    arrays: list[tuple[str, np.ndarray, np.ndarray]] = []
    # rasters have no physical spacing: None keeps distances in px and lesion sizes in pixels
    spacings: dict[str, tuple[float, ...] | None] = {}
    units: set[str] = set()
    notes: list[str] = []
    for f in files:
        pair = _read_pair(f, declared, problems, geometry=geometry)
        if pair is None:
            continue
        arrays.append((f.case_id, pair.ref, pair.pred))
        spacings[f.case_id] = pair.spacing if pair.unit == "mm" else None
        units.add(pair.unit)
        if pair.resampled:
            notes.append(f"case {f.case_id}: prediction resampled onto the reference grid "
                         "(nearest)")
    if problems:
        raise DatasetError(problems)
    if declared is None:
        k = max(2, 1 + max(max(int(r.max()), int(p.max())) for _, r, p in arrays))
        declared = LabelSet.from_count(k, declared=False)
    ids = [f.case_id for f in files]
    groups = resolve_groups(ids, group_by, dataset_dir)
    ev = evaluate_arrays(arrays, declared, spacing=spacings, distance=distance,
                         distances=distances, lesions=lesions, bootstrap=bootstrap,
                         groups=None if groups is None else dict(zip(ids, groups, strict=True)),
                         notes=notes)
    distance_unit: DistanceUnit = "mm" if units == {"mm"} else "px" if units == {"px"} else "mixed"
    if distance_unit == "mixed":
        log.warning("references mix raster files (distances in px) and volumes (mm); "
                    "distance_unit is 'mixed'")
    return replace(ev, files=list(files), distance_unit=distance_unit)
