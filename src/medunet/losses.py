"""Segmentation losses (functional core): soft Dice + CE and variants that keep rare, small
classes from drowning, chosen by name (:func:`loss_for`); the deep-supervision sum.

Every loss takes logits ``(B, K, *S)`` (any float dtype; computed in float32) and labels
``(B, *S)`` and returns a scalar. Class 0 is background and is left out of every Dice-like term.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Tversky weights of false positives and false negatives: beta > alpha favours recall
TVERSKY_ALPHA, TVERSKY_BETA = 0.3, 0.7
FOCAL_GAMMA = 2.0


def _counts(logits: torch.Tensor, target: torch.Tensor, batch_dice: bool
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft true positives, false positives, false negatives per class ``(K,)`` (pooled over the
    batch) or per sample and class ``(B, K)``."""
    k = logits.shape[1]
    probs = logits.float().softmax(dim=1)
    onehot = F.one_hot(target.long(), k).movedim(-1, 1).to(probs.dtype)
    dims = (0, *range(2, logits.ndim)) if batch_dice else tuple(range(2, logits.ndim))
    tp = (probs * onehot).sum(dims)
    fp = (probs * (1 - onehot)).sum(dims)
    fn = ((1 - probs) * onehot).sum(dims)
    return tp, fp, fn


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5,
                   batch_dice: bool = True) -> torch.Tensor:
    """``1 - mean foreground soft Dice`` from logits ``(B, K, *S)`` and labels ``(B, *S)``.

    With ``batch_dice`` the counts are summed over the batch before the ratio (as nnU-Net
    does for 2D), which is stable when a sample has no foreground. ``smooth`` in numerator
    and denominator makes an all-background batch give Dice 1 for the absent classes, never NaN.
    """
    tp, fp, fn = _counts(logits, target, batch_dice)
    dice = (2 * tp + smooth) / (2 * tp + fp + fn + smooth).clamp_min(1e-8)
    return 1.0 - dice[..., 1:].mean()


def present_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """``1 - mean soft Dice`` over the (sample, foreground class) pairs whose target has the class.

    A sample without a class adds nothing for it (plain per-sample Dice would count its absent
    class as a perfect 1 or, predicted, as a 0), so a batch of mostly empty patches does not
    dilute the few that hold a small lesion. No pair present: 0 (cross-entropy still acts).
    """
    tp, fp, fn = _counts(logits, target, batch_dice=False)
    dice = ((2 * tp + smooth) / (2 * tp + fp + fn + smooth).clamp_min(1e-8))[:, 1:]
    present = (tp + fn)[:, 1:] > 0
    if not present.any():
        return dice.sum() * 0.0  # keeps the graph (and the dtype) without a NaN mean
    return 1.0 - dice[present].mean()


def tversky_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = TVERSKY_ALPHA,
                 beta: float = TVERSKY_BETA, smooth: float = 1e-5, batch_dice: bool = True) -> torch.Tensor:
    """``1 - mean foreground Tversky index`` ``(tp + s) / (tp + alpha fp + beta fn + s)``
    (Salehi et al. 2017). ``alpha = beta = 0.5`` is soft Dice; ``beta > alpha`` costs a missed
    voxel more than a false alarm, which favours recall of small lesions."""
    tp, fp, fn = _counts(logits, target, batch_dice)
    index = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth).clamp_min(1e-8)
    return 1.0 - index[..., 1:].mean()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """Mean ``-(1 - p_t)^gamma log p_t`` over voxels (Lin et al. 2017): confidently right
    (mostly background) voxels weigh almost nothing, the hard ones dominate; ``gamma = 0`` is CE."""
    logp = F.log_softmax(logits.float(), dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    return (-((1 - logp.exp()) ** gamma) * logp).mean()


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0,
                 ce_weight: float = 1.0, batch_dice: bool = True) -> torch.Tensor:
    """``dice_weight * soft Dice loss + ce_weight * cross-entropy``; shapes as :func:`soft_dice_loss`.

    ``batch_dice=False`` averages a Dice per sample, so small structures weigh as much as large ones.
    """
    ce = F.cross_entropy(logits.float(), target.long())
    return dice_weight * soft_dice_loss(logits, target, batch_dice=batch_dice) + ce_weight * ce


def dice_ce_sample_loss(logits: torch.Tensor, target: torch.Tensor, batch_dice: bool = True) -> torch.Tensor:
    """:func:`present_dice_loss` + cross-entropy: each patch holding a lesion counts as much as
    any other, however small the lesion (``batch_dice`` is ignored: the Dice is per sample)."""
    return present_dice_loss(logits, target) + F.cross_entropy(logits.float(), target.long())


def tversky_ce_loss(logits: torch.Tensor, target: torch.Tensor, batch_dice: bool = True) -> torch.Tensor:
    """:func:`tversky_loss` (alpha 0.3, beta 0.7: recall first) + cross-entropy."""
    return tversky_loss(logits, target, batch_dice=batch_dice) + F.cross_entropy(logits.float(), target.long())


def dice_focal_loss(logits: torch.Tensor, target: torch.Tensor, batch_dice: bool = True) -> torch.Tensor:
    """Soft Dice + :func:`focal_loss` (gamma 2): CE's voxel term without the easy background's weight."""
    return soft_dice_loss(logits, target, batch_dice=batch_dice) + focal_loss(logits, target)


#: ``plan.loss`` / ``train.loss`` names
LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "dice_ce": dice_ce_loss,
    "dice_ce_sample": dice_ce_sample_loss,
    "tversky_ce": tversky_ce_loss,
    "dice_focal": dice_focal_loss,
}


def loss_for(name: str, batch_dice: bool = True) -> LossFn:
    """The loss called ``name`` (a key of :data:`LOSSES`) as ``loss(logits, target)``.

    ``"dice_ce"`` (default) is Dice + CE; ``"dice_ce_sample"``, ``"tversky_ce"`` and
    ``"dice_focal"`` keep rare small classes from drowning (see their functions).

    Raises
    ------
    ValueError
        Unknown ``name``.
    """
    if name not in LOSSES:
        raise ValueError(f"plan.loss (train.loss) must be one of {', '.join(LOSSES)}, got {name!r}")
    return functools.partial(LOSSES[name], batch_dice=batch_dice)


def downsample_labels(target: torch.Tensor, shape: Sequence[int],
                      mode: Literal["max", "nearest"] = "max") -> torch.Tensor:
    """Labels ``(B, *S)`` at the smaller ``shape`` (each axis an integer factor of ``S``).

    ``"max"``: the highest label of each cell (max-pooling), so a lesion smaller than a cell
    is never lost at low resolution (with multiple classes, where a cell holds several, the
    highest class id wins). ``"nearest"``: one voxel per cell (its first), as nnU-Net's
    order-0 resize; a lesion can vanish or appear depending on where the grid falls.
    """
    factors = [s // n for s, n in zip(target.shape[1:], shape, strict=True)]
    if any(f < 1 or f * n != s for f, n, s in zip(factors, shape, target.shape[1:], strict=True)):
        raise ValueError(f"cannot downsample labels {tuple(target.shape[1:])} to {tuple(shape)}")
    if all(f == 1 for f in factors):
        return target
    if mode == "nearest":
        return target[(slice(None), *(slice(None, None, f) for f in factors))]
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(factors)]
    return pool(target[:, None].float(), factors, factors)[:, 0].to(target.dtype)


def deep_supervision_loss(outputs: Sequence[torch.Tensor], target: torch.Tensor, loss: LossFn,
                          mode: Literal["max", "nearest"] = "max") -> torch.Tensor:
    """``sum_i w_i loss(outputs[i], target at outputs[i]'s size)``, ``w_i = 2^-i / sum_j 2^-j``.

    ``outputs``: logits from full resolution down (see :class:`medunet.models.unet.UNet`);
    nnU-Net's weights. The targets are max-pooled by default (:func:`downsample_labels`): a
    small lesion must not turn into background for the coarse heads while the full-resolution
    head learns it as foreground.
    """
    weights = [2.0 ** -i for i in range(len(outputs))]
    total = sum(weights)
    terms = [w / total * loss(out, downsample_labels(target, out.shape[2:], mode))
             for w, out in zip(weights, outputs, strict=True)]
    return torch.stack(terms).sum()


class DiceCELoss(nn.Module):
    """Module wrapper of :func:`dice_ce_loss`."""

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0, batch_dice: bool = True) -> None:
        super().__init__()
        self.dice_weight, self.ce_weight, self.batch_dice = dice_weight, ce_weight, batch_dice

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dice_ce_loss(logits, target, self.dice_weight, self.ce_weight, self.batch_dice)
