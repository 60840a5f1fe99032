"""Dice + cross-entropy loss (functional core, thin module)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5,
                   batch_dice: bool = True) -> torch.Tensor:
    """``1 - mean foreground soft Dice`` from logits ``(B, K, *S)`` and labels ``(B, *S)``.

    With ``batch_dice`` the counts are summed over the batch before the ratio (as nnU-Net
    does for 2D), which is stable when a sample has no foreground. ``smooth`` in numerator
    and denominator makes an all-background batch give Dice 1 for the absent classes, never NaN.
    """
    k = logits.shape[1]
    probs = logits.float().softmax(dim=1)
    onehot = F.one_hot(target.long(), k).movedim(-1, 1).to(probs.dtype)
    dims = (0, *range(2, logits.ndim)) if batch_dice else tuple(range(2, logits.ndim))
    tp = (probs * onehot).sum(dims)
    fp = (probs * (1 - onehot)).sum(dims)
    fn = ((1 - probs) * onehot).sum(dims)
    dice = (2 * tp + smooth) / (2 * tp + fp + fn + smooth).clamp_min(1e-8)
    fg = dice[1:] if batch_dice else dice[:, 1:]
    return 1.0 - fg.mean()


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0,
                 ce_weight: float = 1.0, batch_dice: bool = True) -> torch.Tensor:
    """``dice_weight * soft Dice loss + ce_weight * cross-entropy``; shapes as :func:`soft_dice_loss`.

    ``batch_dice=False`` averages a Dice per sample, so small structures weigh as much as large ones.
    """
    ce = F.cross_entropy(logits.float(), target.long())
    return dice_weight * soft_dice_loss(logits, target, batch_dice=batch_dice) + ce_weight * ce


class DiceCELoss(nn.Module):
    """Module wrapper of :func:`dice_ce_loss`."""

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0, batch_dice: bool = True) -> None:
        super().__init__()
        self.dice_weight, self.ce_weight, self.batch_dice = dice_weight, ce_weight, batch_dice

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dice_ce_loss(logits, target, self.dice_weight, self.ce_weight, self.batch_dice)
