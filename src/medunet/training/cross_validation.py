"""The cross-validation estimate of a ``--folds`` run: every case predicted by the fold model
that did not train on it (out-of-fold), pooled, plus the spread of the fold scores; and the
ensemble's post-processing, chosen on the pooled out-of-fold probabilities (as nnU-Net does).

The estimate is of argmax labels without TTA, as every run's validation (so each fold's score is
its best epoch's validation Dice); the post-processing is chosen on TTA probabilities, as a
single run's is (:mod:`medunet.training.selection`)."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medunet.checkpoint import load_checkpoint
from medunet.data.cases import Case
from medunet.data.labels import LabelSet
from medunet.data.loader import LoadedCase, prepare_cases, read_cases
from medunet.evaluation.arrays import Evaluation, evaluate_arrays
from medunet.evaluation.document import MetricsDocument
from medunet.evaluation.writing import write_evaluation
from medunet.inference.predictor import Predictor
from medunet.plan import Plan
from medunet.report.extras import ReportExtras
from medunet.training.selection import choose_postprocessing, describe, smallest_lesions
from medunet.training.validation import validate, validation_probs

log = logging.getLogger(__name__)

__all__ = ["CrossValidation", "cross_validate", "cross_validation_document", "fold_predictions",
           "pooled_postprocessing", "write_cross_validation"]


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold evaluations of a cross-validation run.

    Attributes
    ----------
    pooled : Evaluation
        All folds' validation cases together, each predicted by its own fold's best model
        (lesion-wise detection and bootstrap intervals included): the cross-validation estimate.
    folds : tuple of Evaluation
        Each fold's validation cases alone (confusion matrices only).
    """

    pooled: Evaluation
    folds: tuple[Evaluation, ...]

    @property
    def fold_dice(self) -> tuple[float, ...]:
        """Pooled foreground Dice of each fold's validation cases."""
        return tuple(f.document().pooled.foreground_dice for f in self.folds)

    @property
    def fold_mean(self) -> float:
        """Mean of :attr:`fold_dice`."""
        return statistics.fmean(self.fold_dice)

    @property
    def fold_sd(self) -> float:
        """Sample standard deviation (``n - 1``) of :attr:`fold_dice`; NaN with one fold."""
        return statistics.stdev(self.fold_dice) if len(self.folds) > 1 else math.nan


def _note(fold_dice: Sequence[float]) -> str:
    """One sentence for the report saying what the numbers are."""
    sd = statistics.stdev(fold_dice) if len(fold_dice) > 1 else math.nan
    return (f"Cross-validation over {len(fold_dice)} folds: every case is predicted by the fold "
            "model that did not train on it (out-of-fold) and the metrics pool all of them. Fold "
            f"foreground Dice: {', '.join(f'{d:.4f}' for d in fold_dice)} (mean "
            f"{statistics.fmean(fold_dice):.4f}, SD {sd:.4f}).")


def _metrics(doc: MetricsDocument) -> dict[str, Any]:
    """The headline numbers of one document as plain data."""
    per_class = list(doc.pooled.per_class.items())[1:]
    return {"foreground_dice": doc.pooled.foreground_dice, "cases": len(doc.per_case),
            "dice": {name: m.dice for name, m in per_class}}


def fold_predictions(fold_run: Path, cases: Sequence[Case], plan: Plan, labels: LabelSet,
                     device: torch.device, seed: int, *, probs: bool = False
                     ) -> tuple[list[LoadedCase], list[np.ndarray], list[np.ndarray]]:
    """A fold's validation cases as its best model saw them, that model's label maps and, with
    ``probs``, its TTA probabilities (else an empty list)."""
    model = Predictor.from_checkpoint(load_checkpoint(fold_run / "best.pt", map_location=device),
                                      str(device)).model
    data = prepare_cases(read_cases(cases), plan.normalization, plan.spacing, seed, device,
                         plan.intensity)
    _, preds = validate(model, data, plan, labels.names, device)
    return data, preds, validation_probs(model, data, plan, device) if probs else []


def cross_validate(folds: Sequence[tuple[Path, Sequence[Case]]], plan: Plan, labels: LabelSet,
                   device: torch.device, seed: int, groups: Mapping[str, str] | None = None, *,
                   probs: bool = False
                   ) -> tuple[CrossValidation, list[LoadedCase], list[np.ndarray], list[np.ndarray]]:
    """Predict every fold's validation cases with that fold's ``best.pt`` and evaluate them.

    Parameters
    ----------
    folds : sequence of (Path, sequence of Case)
        Per fold, its run folder and its validation cases.
    plan : Plan
        The plan all folds share.
    labels : LabelSet
    device : torch.device
    seed : int
        ``train.seed`` (the case preparation's seed, as in training).
    groups : mapping of str to str, optional
        ``{case id: group}``: the pooled bootstrap draws whole groups.
    probs : bool
        Also return every case's TTA probabilities (for :func:`pooled_postprocessing`).

    Returns
    -------
    cv : CrossValidation
    data, preds, probs : list
        The pooled cases (prepared as the models saw them), their label maps and (with
        ``probs``, else empty) probabilities, in fold order.
    """
    index = LabelSet(tuple(range(labels.num_classes)), tuple(labels.names))
    data: list[LoadedCase] = []
    preds: list[np.ndarray] = []
    maps: list[np.ndarray] = []
    per_fold = []
    for k, (fold_run, cases) in enumerate(folds):
        d, p, m = fold_predictions(fold_run, cases, plan, labels, device, seed, probs=probs)
        per_fold.append(evaluate_arrays(((c.case_id, c.mask, q) for c, q in zip(d, p, strict=True)),
                                        index, distances=False, lesions=None, bootstrap=None))
        log.info("fold %d: out-of-fold foreground Dice %.4f on %d cases", k,
                 per_fold[-1].document().pooled.foreground_dice, len(d))
        data += d
        preds += p
        maps += m
    ids = [c.case_id for c in data]
    note = _note([f.document().pooled.foreground_dice for f in per_fold])
    pooled = evaluate_arrays(((c.case_id, c.mask, q) for c, q in zip(data, preds, strict=True)),
                             index, distances=False, notes=[note],
                             groups=None if groups is None else {i: groups.get(i, i) for i in ids})
    return CrossValidation(pooled, tuple(per_fold)), data, preds, maps


def pooled_postprocessing(enabled: bool, probs: Sequence[np.ndarray], data: Sequence[LoadedCase],
                          plan: Plan, names: Sequence[str]) -> dict[str, Any]:
    """The ensemble's ``RUN/postprocessing.json`` record: chosen on the pooled out-of-fold
    probabilities (:func:`~medunet.training.selection.choose_postprocessing`), or why not."""
    if not enabled:
        return {"status": "off", "reason": "train.postprocess is false."}
    if not any(c.mask.any() for c in data):
        return {"status": "skipped", "reason": "no out-of-fold case has foreground."}
    # every out-of-fold case trained the other folds: its lesions cap the component filter
    limits = smallest_lesions([c.mask for c in data], plan.network.num_classes)
    choice = choose_postprocessing(probs, [c.mask for c in data], plan.spacing, limits)
    return {"status": "chosen", "source": "the pooled out-of-fold probabilities of every fold",
            "cases": len(probs), **choice.to_dict(names),
            "size_limits": {names[c]: n for c, n in limits.items()},
            "description": describe(choice.post.to_dict(), names)}


def cross_validation_document(cv: CrossValidation) -> dict[str, Any]:
    """``folds.json``'s ``cross_validation`` entry and each fold's ``metrics`` (plain data)."""
    return {"pooled": _metrics(cv.pooled.document()), "fold_mean_foreground_dice": cv.fold_mean,
            "fold_sd_foreground_dice": None if math.isnan(cv.fold_sd) else cv.fold_sd,
            "fold_foreground_dice": list(cv.fold_dice),
            "folds": [_metrics(f.document()) for f in cv.folds],
            "method": "out-of-fold predictions of every fold's best model, pooled; fold SD with n-1"}


def write_cross_validation(cv: CrossValidation, run: Path, data: Sequence[LoadedCase],
                           preds: Sequence[np.ndarray], plan: Plan, figures: Mapping[str, bytes],
                           selection: Mapping[str, Any] | None = None) -> None:
    """``RUN/report.html``, ``metrics.json`` and ``metrics.csv`` of the pooled out-of-fold
    predictions; the report's notes carry the fold scores, ``figures`` the folds' curves,
    ``selection`` the ensemble's post-processing record."""
    extras = ReportExtras(figures=dict(figures), plan=plan.to_dict(), selection=selection)
    write_evaluation(cv.pooled, run, loader=lambda i: (data[i].image, data[i].mask, preds[i]),
                     title=f"medunet cross-validation report — {run.name}", extras=extras)
