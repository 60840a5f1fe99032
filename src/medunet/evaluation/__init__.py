"""The evaluation stage (``medunet evaluate``): masks against masks, model-free and torch-free.

Modules: :mod:`~medunet.evaluation.arrays` (label arrays -> :class:`Evaluation`),
:mod:`~medunet.evaluation.document` (the typed metrics document, :class:`MetricsDocument`),
:mod:`~medunet.evaluation.files` (pairing and reading mask files), :mod:`~medunet.evaluation.lesions`
(lesion-wise detection), :mod:`~medunet.evaluation.uncertainty` (bootstrap CIs of the headline
metrics), :mod:`~medunet.evaluation.writing` (metrics.json/csv, lesions.csv, report.html),
:mod:`~medunet.evaluation.compare_folders` (``medunet compare``) and
:mod:`~medunet.evaluation.run` (a trained run on a dataset split: the only module that runs a
model and imports torch, loaded on demand).
"""

from __future__ import annotations

import os

from medunet.data.labels import LabelSet
from medunet.distances import DistanceSettings
from medunet.evaluation.arrays import Evaluation, evaluate_arrays
from medunet.evaluation.compare_folders import compare
from medunet.evaluation.compare_result import Comparison
from medunet.evaluation.defaults import DEFAULT_BOOTSTRAP, DEFAULT_DISTANCE, DEFAULT_LESIONS
from medunet.evaluation.document import MetricsDocument
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.geometry import GeometryPolicy
from medunet.evaluation.groups import GroupSpec
from medunet.evaluation.intervals import BootstrapOptions
from medunet.evaluation.lesions import LesionSettings
from medunet.evaluation.writing import write_evaluation

__all__ = ["BootstrapOptions", "Comparison", "Evaluation", "LesionSettings", "MetricsDocument",
           "compare", "evaluate", "evaluate_arrays", "evaluate_dirs", "write_evaluation"]

PathLike = str | os.PathLike[str]


def evaluate(
    pred: PathLike,
    ref: PathLike | None = None,
    *,
    out: PathLike | None = None,
    data: PathLike | None = None,
    split: str = "test",
    labels: LabelSet | None = None,
    images: PathLike | None = None,
    tta: bool = True,
    device: str = "auto",
    distance: DistanceSettings = DEFAULT_DISTANCE,
    geometry: GeometryPolicy = "check",
    lesions: LesionSettings | None = DEFAULT_LESIONS,
    bootstrap: BootstrapOptions | None = DEFAULT_BOOTSTRAP,
    group_by: GroupSpec | None = None,
    uncertainty: bool = False,
    snap_masks: bool = True,
) -> Evaluation:
    """Evaluate masks against masks (``pred``, ``ref``) or a trained run on a split (``pred``
    is a run folder, ``data`` a dataset); write the report into ``out`` when given.

    ``labels`` declares the label set of a masks-against-masks evaluation (see
    :func:`~medunet.evaluation.files.evaluate_dirs`, which also documents ``distance``,
    ``geometry``, ``lesions``, ``bootstrap`` and ``group_by``); a run uses its model's labels
    and writes its predictions on the reference grid; with a run, ``uncertainty`` also writes
    each case's uncertainty map and score, and ``snap_masks=False`` refuses lossy (JPEG)
    reference masks instead of snapping them.

    Examples
    --------
    >>> ev = evaluate("preds/", "refs/", out="report/")                # doctest: +SKIP
    >>> ev = evaluate("runs/brain", data="DATA", out="report/")        # doctest: +SKIP
    >>> ev.document().intervals["pooled.foreground_dice"].low           # doctest: +SKIP
    """
    if data is not None:
        if ref is not None:
            raise ValueError("evaluate: give either REF_DIR (masks against masks) or --data (a run)")
        if out is None:
            raise ValueError("evaluate: a run evaluation needs an output folder (--out)")
        from medunet.evaluation.run import evaluate_run

        return evaluate_run(pred, data, out, split=split, tta=tta, device=device,
                            distance=distance, lesions=lesions, bootstrap=bootstrap,
                            group_by=group_by, uncertainty=uncertainty, snap_masks=snap_masks)
    if ref is None:
        raise ValueError("evaluate: give PRED_DIR REF_DIR (masks against masks), "
                         "or RUN_DIR --data DATA to evaluate a trained model")
    ev = evaluate_dirs(pred, ref, labels=labels, images_dir=images, distance=distance,
                       geometry=geometry, lesions=lesions, bootstrap=bootstrap, group_by=group_by)
    if out is not None:
        write_evaluation(ev, out)
    return ev
