"""Soft Dice and Dice + cross-entropy: hand-computed cases at tight tolerance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from medunet.losses import DiceCELoss, dice_ce_loss, soft_dice_loss


def _confident(target: torch.Tensor, k: int, margin: float = 60.0) -> torch.Tensor:
    """Logits ``(B, K, *S)`` whose softmax is one-hot of ``target`` to float precision."""
    return F.one_hot(target, k).movedim(-1, 1).float() * margin


def test_perfect_prediction_gives_zero() -> None:
    target = torch.tensor([[[0, 1], [2, 1]], [[2, 2], [0, 0]]])
    loss = soft_dice_loss(_confident(target, 3), target)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_completely_wrong_prediction_gives_one() -> None:
    target = torch.tensor([[[0, 1], [1, 0]]])
    loss = soft_dice_loss(_confident(1 - target, 2), target)
    # tp = 0, fp = fn = 2: (0 + s) / (4 + s)
    assert loss.item() == pytest.approx(1.0 - 1e-5 / (4 + 1e-5), abs=1e-7)


def test_uniform_probabilities_hand_computed() -> None:
    # K=2, zero logits -> p = 0.5 everywhere; N = 4 pixels, n1 = 1 foreground:
    # tp = 0.5, fp = 1.5, fn = 0.5 -> dice = (1 + s) / (1 + 2 + s)
    target = torch.tensor([[[0, 0], [0, 1]]])
    loss = soft_dice_loss(torch.zeros(1, 2, 2, 2), target, smooth=0.0)
    assert loss.item() == pytest.approx(1 - 1 / 3, abs=1e-7)


def test_batch_dice_pools_counts_before_the_ratio() -> None:
    # sample 0: one foreground pixel of 4; sample 1: none. Zero logits (p = 0.5).
    target = torch.tensor([[[0, 0], [0, 1]], [[0, 0], [0, 0]]])
    logits = torch.zeros(2, 2, 2, 2)
    s = 1e-5
    pooled = soft_dice_loss(logits, target, smooth=s, batch_dice=True)
    # pooled: tp = 0.5, fp = 3.5, fn = 0.5 -> (1 + s) / (5 + s)
    assert pooled.item() == pytest.approx(1 - (1 + s) / (5 + s), abs=1e-7)
    per_sample = soft_dice_loss(logits, target, smooth=s, batch_dice=False)
    # sample 0: (1 + s) / (3 + s); sample 1: tp = fn = 0, fp = 2 -> s / (2 + s)
    expected = 1 - ((1 + s) / (3 + s) + s / (2 + s)) / 2
    assert per_sample.item() == pytest.approx(expected, abs=1e-7)


def test_background_is_not_counted() -> None:
    # a perfect background channel does not lower the loss of a missed foreground class
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 1
    logits = _confident(torch.zeros_like(target), 2)
    assert soft_dice_loss(logits, target).item() == pytest.approx(1.0, abs=1e-4)


def test_all_background_target_and_prediction_is_zero_not_nan() -> None:
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    loss = soft_dice_loss(_confident(target, 3), target)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_all_background_gradient_is_finite() -> None:
    target = torch.zeros(2, 6, 6, dtype=torch.long)
    logits = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for batch_dice in (True, False):
        logits.grad = None
        soft_dice_loss(logits, target, batch_dice=batch_dice).backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()
    logits.grad = None
    dice_ce_loss(logits, target).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("batch_dice", [True, False])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 3, 4, 4, 4)])
def test_random_inputs_in_range(shape: tuple[int, ...], batch_dice: bool) -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(shape, generator=g) * 3
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    loss = soft_dice_loss(logits, target, batch_dice=batch_dice)
    assert 0.0 <= loss.item() <= 1.0
    total = dice_ce_loss(logits, target)
    assert torch.isfinite(total) and total.item() >= 0.0


def test_dice_ce_is_the_weighted_sum() -> None:
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 3, 5, 7, generator=g)
    target = torch.randint(0, 3, (2, 5, 7), generator=g)
    dice = soft_dice_loss(logits, target)
    ce = F.cross_entropy(logits, target)
    torch.testing.assert_close(dice_ce_loss(logits, target), dice + ce, rtol=0, atol=1e-6)
    torch.testing.assert_close(dice_ce_loss(logits, target, dice_weight=0.5, ce_weight=2.0),
                               0.5 * dice + 2.0 * ce, rtol=0, atol=1e-6)
    torch.testing.assert_close(DiceCELoss(0.5, 2.0)(logits, target), 0.5 * dice + 2.0 * ce,
                               rtol=0, atol=1e-6)


def test_half_precision_logits_give_float32_loss() -> None:
    target = torch.tensor([[[0, 1], [1, 0]]])
    loss = soft_dice_loss(_confident(target, 2).to(torch.bfloat16), target)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_label_out_of_range_raises() -> None:
    with pytest.raises(RuntimeError):
        soft_dice_loss(torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2), 2))
