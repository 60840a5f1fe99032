"""Post-processing chosen on validation (medunet.training.selection) and applied by
medunet.inference.postprocess: thresholds, small components, largest component, the rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medunet.inference.postprocess import Postprocessing, to_labels
from medunet.training.selection import (
    choose_postprocessing,
    keeps,
    model_selection,
    pooled_dice,
    size_grid,
    smallest_lesions,
)


def _binary(fg: np.ndarray) -> np.ndarray:
    return np.stack([1.0 - fg, fg]).astype(np.float32)


def _threshold_cases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lesions whose probability is 0.35 inside (argmax misses them) and 0.05 outside."""
    probs, masks = [], []
    for i in range(3):
        mask = np.zeros((16, 16), np.int64)
        mask[3 + i : 9 + i, 4:10] = 1
        fg = np.where(mask == 1, 0.35, 0.05)
        fg[0, 0] = 0.25 if i == 0 else fg[0, 0]  # a background pixel a 0.2 threshold would take
        probs.append(_binary(fg))
        masks.append(mask)
    return probs, masks


def test_pooled_dice_sums_over_cases() -> None:
    a, b = np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])
    # case 1: TP 1, FP 1; case 2: TP 0, FN 1 -> 2 / (2 + 1 + 1)
    assert pooled_dice([a, np.zeros(4, int)], [b, b], 2) == {1: 0.5}
    assert pooled_dice([np.zeros(4, int)], [np.zeros(4, int)], 2) == {1: 1.0}


def test_defensive_rule() -> None:
    assert keeps({1: 0.5, 2: 0.5}, {1: 0.6, 2: 0.5})
    assert not keeps({1: 0.5, 2: 0.5}, {1: 0.9, 2: 0.4})  # mean rises, one class falls
    assert not keeps({1: 0.5}, {1: 0.5})  # must rise


def test_threshold_of_0_3_is_chosen() -> None:
    probs, masks = _threshold_cases()
    choice = choose_postprocessing(probs, masks)
    assert choice.argmax == {1: 0.0}
    assert choice.post.threshold == 0.3 and choice.final == {1: 1.0}
    step = choice.steps[0]
    assert step.step == "threshold" and step.kept and step.value == 0.3
    # the stored choice reproduces the chosen labels
    assert all(np.array_equal(to_labels(p, choice.post), m) for p, m in zip(probs, masks, strict=True))


def test_spurious_small_component_is_removed() -> None:
    probs, masks = [], []
    for i in range(2):
        mask = np.zeros((20, 20), np.int64)
        mask[4:12, 4 + i : 12 + i] = 1
        fg = np.where(mask == 1, 0.9, 0.1)
        fg[17:19, 17:19] = 0.9  # a 4-pixel false positive
        probs.append(_binary(fg))
        masks.append(mask)
    choice = choose_postprocessing(probs, masks, spacing=(1.0, 1.0))
    assert choice.post.threshold is None
    assert choice.post.min_size == {1: 5}  # one more than the spurious component's 4 pixels
    assert choice.final == {1: 1.0} and choice.argmax[1] < 1.0
    kept = [s.step for s in choice.steps if s.kept]
    assert kept == ["remove_small"]
    assert size_grid([to_labels(p, None) for p in probs], 1) == (5,)


def test_step_that_makes_a_class_fall_is_rejected() -> None:
    # class 1: a true large and a true small lesion: removing or keeping-largest lowers Dice
    # class 2: a true lesion and a spurious 2-pixel one: removing it raises Dice
    mask = np.zeros((24, 24), np.int64)
    mask[2:10, 2:10] = 1
    mask[14:16, 14:16] = 1
    mask[2:8, 14:20] = 2
    probs = np.full((3, 24, 24), 0.1, np.float32)
    probs[0] = 0.8
    for c in (1, 2):
        probs[c][mask == c] = 0.8
        probs[0][mask == c] = 0.1
    probs[2, 20, 2:4], probs[0, 20, 2:4] = 0.8, 0.1
    choice = choose_postprocessing([probs], [mask])
    assert choice.post.min_size == {2: 3} and choice.post.largest_only == ()
    rejected = [s for s in choice.steps if s.cls == 1 and not s.kept]
    assert {s.step for s in rejected} == {"remove_small", "largest_only"}
    assert all(s.after[1] < s.before[1] for s in rejected)
    assert choice.final[1] == choice.argmax[1] == 1.0 and choice.final[2] == 1.0


def test_absent_class_is_left_alone() -> None:
    probs = np.zeros((3, 8, 8), np.float32)
    probs[0], probs[2, 0, 0], probs[0, 0, 0] = 1.0, 1.0, 0.0  # a spurious class-2 pixel
    mask = np.zeros((8, 8), np.int64)
    mask[2:5, 2:5] = 1
    probs[1][mask == 1], probs[0][mask == 1] = 1.0, 0.0
    choice = choose_postprocessing([probs], [mask])
    assert all(s.cls == 1 for s in choice.steps) and 2 not in choice.post.min_size


def test_postprocessing_round_trip_and_sizes_at_other_spacings() -> None:
    post = Postprocessing(0.3, {1: 5}, (1,), (2.0, 2.0))
    assert Postprocessing.from_dict(json.loads(json.dumps(post.to_dict()))) == post
    assert Postprocessing.from_dict(None) is None
    with pytest.raises(ValueError, match="'postprocessing'"):
        Postprocessing.from_dict({"threshold": 1.5})
    labels = np.zeros((10, 10), np.int64)
    labels[0:3, 0:3] = 1  # 9 pixels of 1 mm = 2.25 network voxels of 2 mm: removed
    labels[5:10, 5:10] = 1  # 25 pixels = 6.25 network voxels: kept
    probs = np.stack([1.0 - labels, labels]).astype(np.float32)
    out = to_labels(probs, Postprocessing(None, {1: 5}, (), (2.0, 2.0)), spacing=(1.0, 1.0))
    assert out[0:3, 0:3].sum() == 0 and out[5:10, 5:10].all()
    same_grid = to_labels(probs, Postprocessing(None, {1: 5}, (), (2.0, 2.0)))
    assert same_grid[0:3, 0:3].all()


def test_model_selection_records_the_rule_and_curve() -> None:
    class Row:
        def __init__(self, epoch: int, v: float) -> None:
            self.epoch, self.val_dice_fg = epoch, v

    rows = [Row(1, 0.2), Row(2, 0.9), Row(3, 0.5), Row(4, 0.8), Row(5, 0.85)]
    sel = model_selection(rows, 2)
    assert sel["epoch"] == 2 and sel["value"] == 0.9 and sel["val_dice_fg"][1] == 0.9
    assert sel["ema_epoch"] == 5  # the smoothed curve peaks later than the one spike


def test_largest_component_is_kept_when_removing_by_size_would_hurt() -> None:
    # case 0: a true 8x8 lesion and a spurious 5x5 one; cases 1-3: one true 4x4 lesion each, so
    # no size threshold removes the spurious 25 pixels without removing 48 true ones
    probs, masks = [], []
    for i in range(4):
        mask = np.zeros((20, 20), np.int64)
        if i == 0:
            mask[2:10, 2:10] = 1
        else:
            mask[5:9, 5:9] = 1
        fg = np.where(mask == 1, 0.9, 0.1)
        if i == 0:
            fg[13:18, 13:18] = 0.9
        probs.append(_binary(fg))
        masks.append(mask)
    choice = choose_postprocessing(probs, masks)
    assert choice.post.min_size == {} and choice.post.largest_only == (1,)
    assert [s.step for s in choice.steps if s.kept] == ["largest_only"] and choice.final == {1: 1.0}
    assert all(np.array_equal(to_labels(p, choice.post), m) for p, m in zip(probs, masks, strict=True))


def test_components_as_large_as_a_training_lesion_are_never_removed() -> None:
    # validation: one 64-px lesion and a 9-px false positive; removing components under 10 px
    # would be perfect there, but the training data had a 6-px lesion
    mask = np.zeros((20, 20), np.int64)
    mask[4:12, 4:12] = 1
    fg = np.where(mask == 1, 0.9, 0.1)
    fg[15:18, 15:18] = 0.9
    probs = [_binary(fg)]
    assert choose_postprocessing(probs, [mask]).post.min_size == {1: 10}
    training = np.zeros((20, 20), np.int64)
    training[0:2, 0:3] = 1  # 6 px
    training[10:20, 10:20] = 1
    limits = smallest_lesions([training], 2)
    assert limits == {1: 6}
    capped = choose_postprocessing(probs, [mask], size_limits=limits)
    assert capped.post.min_size.get(1, 0) <= 6
    # the 9-px component survives the cap (keep-largest may still remove it: that step is separate)
    assert size_grid([to_labels(probs[0], None)], 1, limit=6) == ()
    assert size_grid([to_labels(probs[0], None)], 1, limit=10) == (10,)
