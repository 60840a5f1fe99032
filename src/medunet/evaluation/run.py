"""Evaluate a trained run on a dataset split: predict the split, then the model-free evaluation."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from medunet.data.check import check_dataset
from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.writing import write_evaluation
from medunet.inference.predictor import Predictor

log = logging.getLogger(__name__)


def evaluate_run(run: str | os.PathLike[str], data: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 *, split: str = "test", tta: bool = True, device: str = "auto",
                 nsd_tolerance: float = 1.0) -> Evaluation:
    """Predict ``DATA/<split>/images`` with a run's best model into ``out_dir/predictions`` and
    write ``metrics.json``, ``metrics.csv`` and ``report.html`` into ``out_dir``.

    Raises
    ------
    DatasetError
        Problems in the dataset (all listed), checked before anything is written.
    ValueError
        The split does not exist, or its labels do not fit the model.
    """
    predictor = Predictor.from_run(run, device=device)
    summary = check_dataset(data, predictor.labels)
    if split not in summary.cases:
        raise ValueError(f"{data}: no {split!r} split (found: {', '.join(summary.cases)}); "
                         "choose one with --split")
    if summary.num_channels != predictor.plan.network.in_channels:
        raise ValueError(f"{data}: images have {summary.num_channels} channel(s), the model expects "
                         f"{predictor.plan.network.in_channels}")
    out = Path(out_dir)
    pred_dir = out / "predictions"
    cases = summary.cases[split]
    predictor.predict_files([f for c in cases for f in c.image_files], pred_dir, tta=tta)
    split_dir = Path(data) / split
    ev = evaluate_dirs(pred_dir, split_dir / "masks", labels=predictor.labels,
                       images_dir=split_dir / "images", nsd_tolerance=nsd_tolerance)
    write_evaluation(ev, out, title=f"medunet evaluation — {Path(run).name} on {split}")
    return ev

