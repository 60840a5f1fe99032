"""Evaluate a trained run on a dataset split: predict the split, then the model-free evaluation."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from medunet.data.check import check_dataset
from medunet.distances import DistanceSettings
from medunet.evaluation.arrays import CaseFiles, Evaluation
from medunet.evaluation.defaults import DEFAULT_BOOTSTRAP, DEFAULT_DISTANCE, DEFAULT_LESIONS
from medunet.evaluation.files import evaluate_files
from medunet.evaluation.groups import GroupSpec
from medunet.evaluation.intervals import BootstrapOptions
from medunet.evaluation.lesions import LesionSettings
from medunet.evaluation.writing import write_evaluation
from medunet.inference.predictor import Predictor

log = logging.getLogger(__name__)


def evaluate_run(run: str | os.PathLike[str], data: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 *, split: str = "test", tta: bool = True, device: str = "auto",
                 distance: DistanceSettings = DEFAULT_DISTANCE,
                 lesions: LesionSettings | None = DEFAULT_LESIONS,
                 bootstrap: BootstrapOptions | None = DEFAULT_BOOTSTRAP,
                 group_by: GroupSpec | None = None, uncertainty: bool = False,
                 snap_masks: bool = True) -> Evaluation:
    """Predict a split of a dataset with a run's best model (a run folder, ``.pt``, ``.medunet``
    bundle or ``.onnx`` file) into ``out_dir/predictions`` and write ``metrics.json``,
    ``metrics.csv``, ``lesions.csv`` and ``report.html`` into ``out_dir``.

    The split's cases come from the dataset's layout (``DATA/<split>/``, or nnU-Net's and the
    Decathlon's ``imagesTs``/``labelsTs`` for ``test``), paired with their predictions by case
    id. ``distance``, ``lesions``, ``bootstrap`` and ``group_by`` as for
    :func:`~medunet.evaluation.files.evaluate_dirs` (groups default to ``DATA/dataset.json``'s);
    ``uncertainty`` also writes each case's uncertainty map and puts its score in the CSV.

    Raises
    ------
    DatasetError
        Problems in the dataset (all listed), checked before anything is written.
    ValueError
        The split does not exist, or its labels do not fit the model.
    """
    predictor = Predictor.from_run(run, device=device)
    summary = check_dataset(data, predictor.labels, snap_masks=snap_masks)
    if split not in summary.cases:
        raise ValueError(f"{data}: no {split!r} split (found: {', '.join(summary.cases)}); "
                         "choose one with --split")
    if summary.num_channels != predictor.plan.image_channels:
        raise ValueError(f"{data}: images have {summary.num_channels} channel(s), the model expects "
                         f"{predictor.plan.image_channels}")
    out = Path(out_dir)
    cases = [c for c in summary.cases[split] if c.mask is not None]
    written = predictor.predict_files([f for c in cases for f in c.image_files], out / "predictions",
                                      tta=tta, uncertainty=uncertainty)
    by_id = {w.case_id: w for w in written}
    files = [CaseFiles(c.case_id, by_id[c.case_id].mask, c.mask, c.image,
                       by_id[c.case_id].uncertainty) for c in cases if c.mask is not None]
    ev = evaluate_files(files, labels=predictor.labels, dataset_dir=data, distance=distance,
                        lesions=lesions, bootstrap=bootstrap, group_by=group_by)
    if uncertainty:
        ev = replace(ev, uncertainty={w.case_id: w.uncertainty_score for w in written
                                      if w.uncertainty_score is not None})
    write_evaluation(ev, out, title=f"medunet evaluation — {Path(run).name} on {split}")
    return ev
