"""Sizing to the budget and the device with injected device profiles and fake timers."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest

from medunet.config import Config
from medunet.data.fingerprint import DatasetFingerprint
from medunet.data.labels import LabelSet
from medunet.models.architecture import ModelConfig
from medunet.plan import Plan, make_plan
from medunet.planning import budget
from medunet.planning.budget import TARGET_STEPS, size_to_budget, validation_share
from medunet.planning.device_profile import DeviceProfile
from medunet.planning.ladder import Candidate, build_ladder, training_memory_bytes

BINARY = LabelSet.from_count(2)
GB = 10**9


def _fp(shapes: Sequence[tuple[int, ...]]) -> DatasetFingerprint:
    n = len(shapes)
    return DatasetFingerprint(shapes=tuple(shapes), spacings=((1.0,) * len(shapes[0]),) * n,
                              channels=1, intensity_min=1.0, intensity_max=200.0,
                              channel_mean=(90.0,), channel_std=(30.0,), zero_fractions=(0.0,) * n,
                              label_pixels=((0, 90), (1, 10)), cases_with_foreground=n)


def _compute_timer(calls: list[Candidate], scale: float = 1.0) -> DeviceProfile:
    """A 2-core CPU whose step time grows with the convolution work (deterministic)."""
    def timer(c: Candidate) -> float:
        calls.append(c)
        work = c.batch * math.prod(c.patch) * sum(w * w / 2 ** (c.spatial_dims * i)
                                                  for i, w in enumerate(c.widths))
        return scale * 3e-9 * work

    return DeviceProfile("cpu", "2 CPU cores", 16 * 2**30, timer=timer)


def test_an_80gb_gpu_gets_nnunet_sized_networks() -> None:
    gpu = DeviceProfile("cuda", "80 GB GPU", 80 * GB, timer=lambda c: 0.05)
    for minutes in (None, 24 * 60):
        cfg = Config() if minutes is None else Config().override([f"train.time_budget={minutes}"])
        two = make_plan(_fp([(512, 512)] * 20), BINARY, cfg, device=gpu)
        net = two.network
        assert (net.spatial_dims, net.base_width, net.max_width, net.depth) == (2, 32, 512, 8)
        assert two.patch_size == (512, 512) and two.batch_size >= 12
        three = make_plan(_fp([(160, 160, 160)] * 20), BINARY, cfg, device=gpu)
        net = three.network
        assert (net.spatial_dims, net.base_width, net.max_width, net.depth) == (3, 32, 320, 6)
        assert three.patch_size == (128, 128, 128) and three.batch_size == 2
        assert three.calibration["device"]["kind"] == "cuda"
    assert two.calibration["steps_in_budget"] >= TARGET_STEPS[2]
    assert Plan.from_dict(json.loads(json.dumps(two.to_dict()))) == two  # calibration is plain data


def test_two_cpu_cores_get_a_smaller_network_in_5_than_in_120_minutes() -> None:
    fp = _fp([(224, 192)] * 40)
    short_calls: list[Candidate] = []
    long_calls: list[Candidate] = []
    short = make_plan(fp, BINARY, Config().override(["train.time_budget=5"]),
                      device=_compute_timer(short_calls))
    long = make_plan(fp, BINARY, Config().override(["train.time_budget=120"]),
                     device=_compute_timer(long_calls))
    assert math.prod(short.patch_size) < math.prod(long.patch_size)
    assert short.network.base_width <= long.network.base_width
    # fake times: 5 min affords the half-area patch at base width 8 (1589 steps, the next rung 397)
    assert (short.patch_size, short.network.widths) == ((160, 144), [8, 16, 32, 64, 128])
    # 120 min: the median image at base width 32 (1276 steps; batch 12 would be 855)
    assert (long.patch_size, long.network.base_width, long.batch_size) == ((224, 192), 32, 8)
    # the same ladder timed cheapest first, up to the first candidate that misses the target
    assert short_calls == long_calls[:len(short_calls)] and len(short_calls) < len(long_calls)
    for plan in (short, long):
        cal = plan.calibration
        assert cal["target_steps"] == TARGET_STEPS[2] and cal["steps_in_budget"] >= TARGET_STEPS[2]
        assert cal["candidates"][-1]["steps_in_budget"] < TARGET_STEPS[2]  # where it stopped
        assert cal["seconds"] >= 0 and cal["budget_minutes"] in (5, 120)


def test_a_budget_no_candidate_meets_takes_the_smallest_after_one_timing() -> None:
    calls: list[Candidate] = []
    plan = make_plan(_fp([(224, 192)] * 40), BINARY, Config().override(["train.time_budget=0.5"]),
                     device=_compute_timer(calls, scale=100.0))
    assert len(calls) == 1 and plan.patch_size == calls[0].patch
    assert plan.calibration["steps_in_budget"] < TARGET_STEPS[2]


def test_no_budget_on_the_cpu_is_todays_plan_without_timing() -> None:
    calls: list[Candidate] = []
    fp = _fp([(224, 192)] * 40)
    assert make_plan(fp, BINARY, Config(), device=_compute_timer(calls)) == make_plan(fp, BINARY, Config())
    assert calls == []


def test_memory_limits_the_ladder() -> None:
    ladder = build_ladder((512, 512), 2, ModelConfig(), in_channels=1, num_classes=2, device_kind="cuda")
    memory = 4 * 2**30
    profile = DeviceProfile("cuda", "small GPU", memory, timer=lambda c: 0.001)
    chosen, cal = size_to_budget(ladder, profile, None, lambda c: 0.1)
    assert training_memory_bytes(chosen) <= 0.9 * memory
    bigger = ladder[ladder.index(chosen) + 1]
    assert training_memory_bytes(bigger) > 0.9 * memory
    assert len(cal["candidates"]) == 1 and cal["steps_in_budget"] is None  # no budget: timed once


def test_calibration_stops_at_its_share_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(budget.time, "perf_counter", lambda: clock[0])

    def timer(c: Candidate) -> float:
        clock[0] += 10.0  # each calibration takes 10 s; 3 % of 10 minutes is 18 s
        return 0.001

    ladder = build_ladder((224, 192), 2, ModelConfig(), in_channels=1, num_classes=2, device_kind="cpu")
    chosen, cal = size_to_budget(ladder, DeviceProfile("cpu", "cpu", 16 * 2**30, timer=timer), 10.0,
                                 lambda c: 0.1)
    assert len(cal["candidates"]) == 2 and chosen == ladder[1] and cal["seconds"] == 20.0


def test_user_set_model_fields_win_on_a_gpu() -> None:
    gpu = DeviceProfile("cuda", "80 GB GPU", 80 * GB, timer=lambda c: 0.01)
    cfg = Config().override(["model.base_width=8", "model.max_width=64", "train.batch_size=3"])
    plan = make_plan(_fp([(512, 512)] * 20), BINARY, cfg, device=gpu)
    assert (plan.network.base_width, plan.network.max_width, plan.batch_size) == (8, 64, 3)
    assert plan.patch_size == (512, 512) and plan.network.depth == 8  # what was not set is planned
    fixed_depth = make_plan(_fp([(512, 512)] * 20), BINARY, Config().override(["model.depth=5"]),
                            device=gpu)
    assert fixed_depth.network.depth == 5 and fixed_depth.network.base_width == 32
    # a value equal to the old default is still the user's choice
    same = make_plan(_fp([(512, 512)] * 20), BINARY, Config().override(["model.base_width=16"]),
                     device=gpu)
    assert same.network.base_width == 16


def test_validation_share_by_hand() -> None:
    c = Candidate(2, 8, 128, 3, (64, 64), 8)
    # 128 px per axis with 64 px tiles at half overlap: 3 tiles per axis, 9 per case;
    # 4 cases x 9 tiles / (3 x 8) = 1.5 step-equivalents against max(25, 10 / 8) = 25 steps
    assert validation_share(c, (128, 128), 10, 4) == pytest.approx(1.5 / 26.5)
    assert validation_share(c, (128, 128), 10, 4, iterations=100) == pytest.approx(1.5 / 101.5)
    # slicewise: 20 slices to validate per volume and to train on
    assert validation_share(c, (20, 64, 64), 10, 2) == pytest.approx((2 * 20 / 24) / (2 * 20 / 24 + 25))


def test_a_candidate_that_runs_out_of_memory_ends_the_ladder() -> None:
    ladder = build_ladder((512, 512), 2, ModelConfig(), in_channels=1, num_classes=2, device_kind="cuda")
    profile = DeviceProfile("cuda", "gpu", 80 * GB,
                            timer=lambda c: math.inf if c.base_width == 32 else 0.001)
    chosen, cal = size_to_budget(ladder, profile, 60.0, lambda c: 0.1)
    assert chosen.base_width == 16 and chosen == ladder[3]
    assert cal["candidates"][-1]["seconds_per_step"] is None and cal["candidates"][-1]["steps_in_budget"] == 0
