"""Validation during training: predict every validation case whole and score it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from medunet.data.labels import LabelSet
from medunet.data.loader import LoadedCase
from medunet.evaluation.arrays import Evaluation, evaluate_arrays
from medunet.inference.probs import infer_members, infer_probs
from medunet.plan import Plan

log = logging.getLogger(__name__)


@torch.no_grad()
def validate(model: torch.nn.Module, cases: Sequence[LoadedCase], plan: Plan,
             names: Sequence[str], device: torch.device, *, report: bool = False
             ) -> tuple[Evaluation, list[np.ndarray]]:
    """Predict every validation case whole and evaluate it; returns the evaluation and label maps.

    Each epoch needs only the confusion matrices (model selection on Dice); ``report=True``
    (the run's final report) adds lesion-wise detection and bootstrap confidence intervals.
    """
    model.eval()
    preds = []
    for c in cases:
        probs = infer_probs(model, torch.from_numpy(c.image).to(device), plan)
        preds.append(probs.argmax(0).cpu().numpy())
    labels = LabelSet(tuple(range(len(names))), tuple(names))
    pairs = ((c.case_id, c.mask, p) for c, p in zip(cases, preds, strict=True))
    if report:
        return evaluate_arrays(pairs, labels, distances=False), preds
    return evaluate_arrays(pairs, labels, distances=False, lesions=None, bootstrap=None), preds

@torch.no_grad()
def validation_probs(model: torch.nn.Module, cases: Sequence[LoadedCase], plan: Plan,
                     device: torch.device, *, tta: bool = True) -> list[np.ndarray]:
    """Each validation case's class probabilities ``(K, *S)`` float32 at the network grid, on the
    CPU, with the flips of prediction (``tta``): what post-processing is chosen on."""
    model.eval()
    return [infer_members(model, torch.from_numpy(c.image).to(device), plan, tta=tta).probs.cpu().numpy()
            for c in cases]


def val_row(ev: Evaluation) -> dict[str, float]:
    """The validation columns of ``log.csv``; ``val_dice_fg`` (pooled) selects the best model."""
    doc = ev.document()
    stat = doc.mean_case.foreground_dice_present if doc.mean_case is not None else None
    present = stat.mean if stat is not None else None
    row = {"val_dice_fg": doc.pooled.foreground_dice,
           "val_dice_fg_case_present": float("nan") if present is None else present}
    for name, m in list(doc.pooled.per_class.items())[1:]:
        row[f"val_dice_{name}"] = m.dice
    return row
