"""What validation chooses after training: the best epoch (recorded) and the post-processing.

Post-processing is chosen on the validation cases' probabilities of the best checkpoint, in
this order, each step kept only under nnU-Net's defensive rule (:func:`keeps`): the mean
foreground Dice rises and no class's Dice falls.

a. binary tasks: the foreground threshold from :data:`THRESHOLDS` (argmax is 0.5);
b. per class: removing components smaller than a size from a grid of the validation
   predictions' own component sizes (voxels of the network grid);
c. per class: keeping only the largest component of each case.

"Dice" here is **pooled per class**: true/false positives and false negatives summed over all
validation cases, then ``2TP / (2TP + FP + FN)``; the "mean" is the unweighted mean of that over
the foreground classes. Pooling is more stable than a mean over cases on the few validation
cases a run has (a case-wise mean is dominated by the cases with tiny or no lesions, whose Dice
jumps between 0 and 1), and predicting nothing never scores well on it. A class absent from
every validation reference is left alone (there is nothing to choose its steps on).

Everything here is numpy on arrays; :mod:`medunet.training.finish` runs it on a run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from medunet.inference.postprocess import (
    Postprocessing,
    component_sizes,
    keep_largest,
    labels_from_probs,
    remove_small,
)
from medunet.training.state import EMA_ALPHA

log = logging.getLogger(__name__)

#: foreground thresholds tried for binary tasks (0.5 is argmax)
THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))
#: at most this many component sizes are tried per class
MAX_SIZES = 24
RULE = ("a step is kept only if the mean over the foreground classes of the pooled validation "
        "Dice rises and no class's pooled Dice falls")
_EPS = 1e-12


def pooled_dice(labels: Sequence[np.ndarray], masks: Sequence[np.ndarray], num_classes: int
                ) -> dict[int, float]:
    """Per foreground class, ``2TP / (2TP + FP + FN)`` summed over cases (1.0 when all empty)."""
    out = {}
    for c in range(1, num_classes):
        tp = fp = fn = 0
        for lab, ref in zip(labels, masks, strict=True):
            p, r = lab == c, ref == c
            inter = int(np.count_nonzero(p & r))
            tp, fp, fn = tp + inter, fp + int(np.count_nonzero(p)) - inter, fn + int(np.count_nonzero(r)) - inter
        out[c] = 1.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return out


def mean_dice(dice: Mapping[int, float]) -> float:
    """The unweighted mean over the foreground classes."""
    return float(np.mean(list(dice.values()))) if dice else float("nan")


def keeps(before: Mapping[int, float], after: Mapping[int, float]) -> bool:
    """The defensive rule: the mean rises and no class falls."""
    return (mean_dice(after) > mean_dice(before) + _EPS
            and all(after[c] >= before[c] - _EPS for c in before))


@dataclass(frozen=True)
class Step:
    """One tried step: what, for which class, the candidate value, kept or not, Dice before/after."""

    step: str
    cls: int
    value: float
    kept: bool
    before: dict[int, float]
    after: dict[int, float]
    grid: tuple[float, ...] = ()

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """Plain data with class names (``postprocessing.json``)."""
        return {"step": self.step, "class": names[self.cls], "value": self.value, "kept": self.kept,
                "dice_before": {names[c]: d for c, d in self.before.items()},
                "dice_after": {names[c]: d for c, d in self.after.items()},
                "mean_before": mean_dice(self.before), "mean_after": mean_dice(self.after),
                "grid": list(self.grid)}


@dataclass(frozen=True)
class Choice:
    """The chosen post-processing and every step tried, in order."""

    post: Postprocessing
    steps: tuple[Step, ...]
    argmax: dict[int, float]
    final: dict[int, float]

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """Plain data (``postprocessing.json``): rule, metric, Dice of argmax and final, steps."""
        return {"rule": RULE, "metric": "pooled per-class Dice over the validation cases",
                "postprocessing": self.post.to_dict(),
                "dice_argmax": {names[c]: d for c, d in self.argmax.items()},
                "dice_final": {names[c]: d for c, d in self.final.items()},
                "mean_argmax": mean_dice(self.argmax), "mean_final": mean_dice(self.final),
                "steps": [s.to_dict(names) for s in self.steps]}


class _State:
    """The running choice: label maps, their Dice, the post-processing so far and the steps."""

    def __init__(self, labels: list[np.ndarray], masks: Sequence[np.ndarray], k: int,
                 post: Postprocessing) -> None:
        self.labels, self.masks, self.k, self.post = labels, masks, k, post
        self.dice = pooled_dice(labels, masks, k)
        self.steps: list[Step] = []

    def dice_of(self, labels: list[np.ndarray]) -> dict[int, float]:
        return pooled_dice(labels, self.masks, self.k)

    def offer(self, step: str, cls: int, value: float, labels: list[np.ndarray],
              post: Postprocessing, grid: Sequence[float] = (), *, allowed: bool = True) -> None:
        """Record a candidate; adopt it when ``allowed`` and the defensive rule holds."""
        after = self.dice_of(labels)
        kept = allowed and keeps(self.dice, after)
        self.steps.append(Step(step, cls, float(value), kept, dict(self.dice), after, tuple(grid)))
        log.info("post-processing %s class %d = %g: mean pooled Dice %.4f -> %.4f, %s", step, cls,
                 value, mean_dice(self.dice), mean_dice(after), "kept" if kept else "rejected")
        if kept:
            self.labels, self.dice, self.post = labels, after, post


def _threshold(state: _State, fg: Sequence[np.ndarray]) -> None:
    """Step a: the grid's best threshold (ties: nearest 0.5); offered unless it is 0.5."""
    scored = []
    for t in THRESHOLDS:
        labels = [(p > t).astype(np.int64) for p in fg]
        scored.append((state.dice_of(labels)[1], -abs(t - 0.5), t, labels))
    _, _, t, labels = max(scored, key=lambda s: (s[0], s[1]))
    state.offer("threshold", 1, t, labels, replace(state.post, threshold=t), THRESHOLDS,
                allowed=t != 0.5)


def smallest_lesions(masks: Sequence[np.ndarray], num_classes: int) -> dict[int, int]:
    """Per foreground class, the voxel count of the smallest connected component in ``masks``
    (the training lesions; classes absent from every mask are left out)."""
    out: dict[int, int] = {}
    for c in range(1, num_classes):
        sizes = [s for m in masks for s in component_sizes(m == c)]
        if sizes:
            out[c] = int(min(sizes))
    return out


def size_grid(labels: Sequence[np.ndarray], cls: int, limit: int | None = None) -> tuple[int, ...]:
    """Candidate minimum sizes for class ``cls``: one more than each predicted component size
    below the largest (so the largest always survives), at most :data:`MAX_SIZES` of them.

    ``limit`` (the smallest training lesion of the class) caps the candidates: a component as
    large as a lesion the model was trained on is never removed, however well removing it
    scores on a few validation cases.
    """
    sizes = np.unique(np.concatenate([component_sizes(lab == cls) for lab in labels]
                                      or [np.zeros(0, np.int64)]))
    sizes = sizes[sizes < sizes.max()] if sizes.size else sizes
    if limit is not None:
        sizes = sizes[sizes + 1 <= limit]
    if sizes.size > MAX_SIZES:
        sizes = sizes[np.unique(np.linspace(0, sizes.size - 1, MAX_SIZES).round().astype(int))]
    return tuple(int(s) + 1 for s in sizes)


def _min_size(state: _State, cls: int, limit: int | None) -> None:
    """Step b for one class: the grid's best minimum size (ties: the smallest)."""
    grid = size_grid(state.labels, cls, limit)
    if not grid:
        return
    scored = []
    for m in grid:
        labels = [remove_small(lab, cls, m) for lab in state.labels]
        scored.append((state.dice_of(labels)[cls], -m, labels))
    _, neg_m, labels = max(scored, key=lambda s: (s[0], s[1]))
    post = replace(state.post, min_size={**state.post.min_size, cls: -neg_m})
    state.offer("remove_small", cls, -neg_m, labels, post, grid)


def choose_postprocessing(probs: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                          spacing: Sequence[float] = (),
                          size_limits: Mapping[int, int] | None = None) -> Choice:
    """Choose the threshold and component steps on validation probabilities (module docstring).

    Parameters
    ----------
    probs : sequence of ndarray, shape (K, *S)
        Each validation case's class probabilities at the network grid.
    masks : sequence of ndarray, shape (*S)
        The reference label maps, same grid.
    spacing : sequence of float
        The network grid's spacing per array axis (stored with the choice so that sizes can be
        converted at other spacings).

    Returns
    -------
    Choice
        ``Choice.post`` reproduces the final label maps with
        :func:`medunet.inference.postprocess.to_labels`.
    """
    k = int(probs[0].shape[0])
    present = [c for c in range(1, k) if any(np.any(m == c) for m in masks)]
    state = _State([labels_from_probs(p) for p in probs], masks, k,
                   Postprocessing(spacing=tuple(float(s) for s in spacing)))
    argmax = dict(state.dice)
    if k == 2 and present:
        _threshold(state, [p[1] for p in probs])
    for c in present:
        _min_size(state, c, (size_limits or {}).get(c))
    for c in present:
        labels = [keep_largest(lab, c) for lab in state.labels]
        state.offer("largest_only", c, 1, labels,
                    replace(state.post, largest_only=(*state.post.largest_only, c)))
    return Choice(state.post, tuple(state.steps), argmax, dict(state.dice))


def describe(post: Mapping[str, Any] | None, names: Sequence[str]) -> str:
    """A :meth:`Postprocessing.to_dict` record in words ("argmax" when it changes nothing)."""
    p = Postprocessing.from_dict(post)
    if p is None or p.is_identity:
        return "none (argmax)"
    parts = [f"foreground where p > {p.threshold:g}"] if p.threshold is not None else []
    parts += [f"remove {names[c]} components under {n} voxels (network grid)"
              for c, n in sorted(p.min_size.items())]
    parts += [f"keep only the largest {names[c]} component" for c in p.largest_only]
    return "; ".join(parts)


class _Row(Protocol):
    @property
    def epoch(self) -> int: ...

    @property
    def val_dice_fg(self) -> float: ...


def model_selection(rows: Sequence[_Row], best_epoch: int, optimistic: bool = False
                    ) -> dict[str, Any]:
    """How the best checkpoint was chosen, with the curve it was chosen on (plain data).

    The rule is the training loop's (:func:`~medunet.training.state.selection_score`): the
    epoch of the highest pooled validation foreground Dice (which never rewards predicting
    nothing), or, when validation is ``optimistic``, of the highest exponential moving average
    of that curve (``EMA_ALPHA``, ``ema_epoch``): the trend, not one lucky epoch.
    """
    curve = [float(r.val_dice_fg) for r in rows]
    ema, smooth = [], None
    for v in curve:
        v = 0.0 if not np.isfinite(v) else v
        smooth = v if smooth is None else EMA_ALPHA * v + (1 - EMA_ALPHA) * smooth
        ema.append(smooth)
    epochs = [int(r.epoch) for r in rows]
    rule = (f"best epoch = highest moving average (alpha {EMA_ALPHA:g}) of the pooled validation "
            "foreground Dice: validation is optimistic, so the trend is trusted, not one epoch"
            if optimistic else "best epoch = highest pooled validation foreground Dice (val_dice_fg)")
    return {"rule": rule,
            "epoch": best_epoch, "value": curve[epochs.index(best_epoch)] if best_epoch in epochs else None,
            "epochs": epochs, "val_dice_fg": curve, "ema": ema, "ema_alpha": EMA_ALPHA,
            "ema_epoch": epochs[int(np.argmax(ema))] if ema else None}
