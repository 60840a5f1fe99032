"""The losses for small structures, chosen by name, and the deep-supervision sum: hand-computed."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from medunet.losses import (
    LOSSES,
    deep_supervision_loss,
    dice_ce_loss,
    dice_ce_sample_loss,
    dice_focal_loss,
    downsample_labels,
    focal_loss,
    loss_for,
    present_dice_loss,
    soft_dice_loss,
    tversky_ce_loss,
    tversky_loss,
)

S = 1e-5
#: sample 0: one foreground pixel of 4; sample 1: none. With zero logits p = 0.5 everywhere.
TARGET = torch.tensor([[[0, 0], [0, 1]], [[0, 0], [0, 0]]])
ZERO = torch.zeros(2, 2, 2, 2)


def _random(seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 3, 6, 5, generator=g), torch.randint(0, 3, (3, 6, 5), generator=g)


@pytest.mark.parametrize("batch_dice", [True, False])
def test_dice_ce_by_name_is_todays_loss_exactly(batch_dice: bool) -> None:
    logits, target = _random()
    assert torch.equal(loss_for("dice_ce", batch_dice)(logits, target),
                       dice_ce_loss(logits, target, batch_dice=batch_dice))


def test_unknown_loss_names_the_key_and_the_choices() -> None:
    with pytest.raises(ValueError, match="plan.loss") as err:
        loss_for("dice_bce")
    assert all(name in str(err.value) for name in LOSSES)
    assert set(LOSSES) >= {"dice_ce", "dice_ce_sample", "tversky_ce", "dice_focal"}


def test_present_dice_counts_only_samples_that_hold_the_class() -> None:
    # sample 0: tp = 0.5, fp = 1.5, fn = 0.5 -> (1 + s) / (3 + s); sample 1 has no class 1: left out
    assert present_dice_loss(ZERO, TARGET).item() == pytest.approx(1 - (1 + S) / (3 + S), abs=1e-7)
    # plain per-sample Dice averages in sample 1's s / (2 + s), close to 0: a loss near 1 - 1/6
    assert soft_dice_loss(ZERO, TARGET, batch_dice=False).item() == pytest.approx(
        1 - ((1 + S) / (3 + S) + S / (2 + S)) / 2, abs=1e-7)


def test_present_dice_of_an_all_background_batch_is_zero_with_a_gradient() -> None:
    logits = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = present_dice_loss(logits, torch.zeros(2, 4, 4, dtype=torch.long))
    assert loss.item() == 0.0
    dice_ce_sample_loss(logits, torch.zeros(2, 4, 4, dtype=torch.long)).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_tversky_hand_computed_and_dice_at_equal_weights() -> None:
    target = TARGET[:1]
    # tp = 0.5, fp = 1.5, fn = 0.5: (0.5 + s) / (0.5 + 0.3 * 1.5 + 0.7 * 0.5 + s) = 0.5 / 1.3
    expected = 1 - (0.5 + S) / (0.5 + 0.45 + 0.35 + S)
    assert tversky_loss(ZERO[:1], target).item() == pytest.approx(expected, abs=1e-7)
    logits, target = _random()
    torch.testing.assert_close(tversky_loss(logits, target, 0.5, 0.5, smooth=0.0),
                               soft_dice_loss(logits, target, smooth=0.0), rtol=0, atol=1e-6)


def _predict(labels: list[list[int]]) -> torch.Tensor:
    """Confident logits ``(1, 2, H, W)`` of a binary label map."""
    return F.one_hot(torch.tensor([labels]), 2).movedim(-1, 1).float() * 60


def test_tversky_costs_a_miss_more_than_a_false_alarm() -> None:
    # a miss (tp 1, fn 1) and a false alarm (tp 1, fp 1) have the same Dice, 2/3
    miss = (_predict([[0, 1], [0, 0]]), torch.tensor([[[0, 1], [1, 0]]]))
    alarm = (_predict([[0, 1], [1, 0]]), torch.tensor([[[0, 1], [0, 0]]]))
    assert soft_dice_loss(*miss).item() == pytest.approx(soft_dice_loss(*alarm).item(), abs=1e-6)
    assert tversky_loss(*miss).item() == pytest.approx(1 - 1 / 1.7, abs=1e-5)
    assert tversky_loss(*alarm).item() == pytest.approx(1 - 1 / 1.3, abs=1e-5)


def test_focal_hand_computed() -> None:
    # p_t = 0.5 everywhere: -(1 - 0.5)^2 log 0.5
    assert focal_loss(ZERO, TARGET).item() == pytest.approx(0.25 * math.log(2), abs=1e-7)
    logits, target = _random()
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    assert focal_loss(logits, target).item() < F.cross_entropy(logits, target).item()


def test_the_combined_losses_are_their_sums() -> None:
    logits, target = _random()
    ce = F.cross_entropy(logits, target)
    torch.testing.assert_close(loss_for("dice_ce_sample")(logits, target),
                               present_dice_loss(logits, target) + ce, rtol=0, atol=1e-6)
    torch.testing.assert_close(loss_for("tversky_ce", False)(logits, target),
                               tversky_loss(logits, target, batch_dice=False) + ce, rtol=0, atol=1e-6)
    torch.testing.assert_close(loss_for("dice_focal")(logits, target),
                               soft_dice_loss(logits, target) + focal_loss(logits, target), rtol=0, atol=1e-6)
    assert tversky_ce_loss is LOSSES["tversky_ce"] and dice_focal_loss is LOSSES["dice_focal"]


def test_downsampled_labels_keep_a_one_pixel_lesion_with_max() -> None:
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 5, 3] = 2
    target[0, 0:2, 0:2] = 1
    pooled = downsample_labels(target, (2, 2))
    assert pooled.dtype == torch.long and pooled.tolist() == [[[1, 0], [2, 0]]]
    nearest = downsample_labels(target, (2, 2), "nearest")
    assert nearest.tolist() == [[[1, 0], [0, 0]]]  # the odd-placed pixel is gone
    vol = torch.zeros(1, 4, 4, 4, dtype=torch.long)
    vol[0, 3, 3, 3] = 1
    assert downsample_labels(vol, (2, 2, 2))[0, 1, 1, 1] == 1
    with pytest.raises(ValueError, match="downsample"):
        downsample_labels(target, (3, 3))


def test_deep_supervision_on_a_constant_target_is_the_weighted_sum() -> None:
    # every output has logits (0, a_i): p = sigmoid(a_i) for class 1 everywhere; target all class 1
    sizes, a = [8, 4, 2], [0.0, 1.0, -1.0]
    outputs = [torch.stack([torch.zeros(1, n, n), torch.full((1, n, n), ai)], dim=1)
               for n, ai in zip(sizes, a, strict=True)]
    target = torch.ones(1, 8, 8, dtype=torch.long)
    terms = []
    for n, ai in zip(sizes, a, strict=True):
        p, pixels = 1 / (1 + math.exp(-ai)), n * n
        tp, fn = p * pixels, (1 - p) * pixels  # fp = 0: every pixel is class 1
        dice = (2 * tp + S) / (2 * tp + fn + S)
        terms.append((1 - dice) - math.log(p))  # foreground Dice loss + cross-entropy
    weights = [1.0, 0.5, 0.25]
    expected = sum(w * t for w, t in zip(weights, terms, strict=True)) / sum(weights)
    loss = deep_supervision_loss(outputs, target, loss_for("dice_ce"))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # one output: the loss itself
    assert deep_supervision_loss(outputs[:1], target, loss_for("dice_ce")).item() == pytest.approx(terms[0], abs=1e-6)
