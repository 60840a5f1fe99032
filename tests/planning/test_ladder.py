"""The candidate ladder: ordered by capacity, capped per device, user-set fields fixed."""

from __future__ import annotations

import math

import pytest

from medunet.models.architecture import ModelConfig
from medunet.planning.ladder import (
    PATCH_LIMITS,
    Candidate,
    build_ladder,
    cap_patch,
    planned_depth,
    training_memory_bytes,
)


def test_each_rung_has_at_least_the_capacity_of_the_one_below() -> None:
    for dims, median, smallest, largest in ((2, (512, 512), (256, 256), (512, 512)),
                                            (3, (160,) * 3, (112,) * 3, (128,) * 3)):
        ladder = build_ladder(median, dims, ModelConfig(), in_channels=1, num_classes=2,
                              device_kind="cuda")
        assert len(ladder) >= 4  # 3D: half the volume and the capped volume round alike
        for lo, hi in zip(ladder, ladder[1:], strict=False):
            assert hi.base_width >= lo.base_width and hi.max_width >= lo.max_width
            assert math.prod(hi.patch) >= math.prod(lo.patch) and hi.batch >= lo.batch
            assert hi != lo
            assert training_memory_bytes(hi) > training_memory_bytes(lo)
        # from a quarter of the median image (101 -> 112 per side in 3D) up to the capped median
        assert ladder[0].patch == smallest and ladder[-1].patch == largest


def test_patches_are_capped_per_device_and_divisible() -> None:
    cpu = build_ladder((512, 512), 2, ModelConfig(), in_channels=1, num_classes=2, device_kind="cpu")
    assert all(math.prod(c.patch) <= PATCH_LIMITS["cpu"][2] * 1.2 for c in cpu)
    assert all(p % 2 ** (c.depth - 1) == 0 for c in cpu for p in c.patch)
    assert cap_patch((160, 160, 160), 128**3) == (116, 116, 116)
    assert cap_patch((30, 300, 300), 30 * 100 * 100)[0] == 30  # the short axis keeps its length


def test_depth_keeps_the_bottleneck() -> None:
    assert planned_depth((512, 512), 8) == 8  # 512 / 2**7 = 4
    assert planned_depth((100, 512), 8) == 6  # ceil(100 / 32) = 4
    assert planned_depth((24, 40), 5) == 3


def test_user_set_fields_replace_every_rung() -> None:
    model = ModelConfig(base_width=24, max_width=96, depth=4)
    ladder = build_ladder((256, 256), 2, model, in_channels=3, num_classes=4, device_kind="cuda",
                          batch=5)
    assert {(c.base_width, c.max_width, c.depth, c.batch) for c in ladder} == {(24, 96, 4, 5)}
    assert [c.patch for c in ladder] == sorted({c.patch for c in ladder})  # only the patch varies
    fixed = build_ladder((256, 256), 2, ModelConfig(), in_channels=1, num_classes=2,
                         device_kind="cuda", patch=(96, 64))
    assert {c.patch for c in fixed} == {(96, 64)} and len({c.base_width for c in fixed}) == 3


def test_memory_formula_by_hand() -> None:
    c = Candidate(2, 4, 8, 2, (16, 16), 2, in_channels=1, num_classes=2)
    # levels: 4 ch x 256 px + 8 ch x 64 px = 1536 values per sample
    activations = 4 * 2 * 1536 * 12 * 1.25 * 1.5
    params = 9 * (1 * 4 + 4 * 4) + 9 * (4 * 8 + 8 * 8) + 9 * (2 * 8 * 4 + 4 * 4) + 4 * 8
    assert training_memory_bytes(c) == int(activations + 16 * params + 768 * 2**20)
    assert training_memory_bytes(Candidate(3, 32, 320, 6, (128,) * 3, 2)) == pytest.approx(
        17.4e9, rel=0.01)  # nnU-Net 3d_fullres: about 2x its measured use (fp32, safety)
