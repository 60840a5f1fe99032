"""Calibration times real training steps of a candidate on the device."""

from __future__ import annotations

import math

import pytest
import torch

from medunet.planning import calibrate
from medunet.planning.calibrate import time_training_step
from medunet.planning.device_profile import DeviceProfile, profile_for
from medunet.planning.ladder import Candidate


def test_real_steps_are_timed_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[tuple[int, ...]] = []
    real = calibrate.dice_ce_loss

    def counting(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        steps.append(tuple(logits.shape))
        return real(logits, target)

    monkeypatch.setattr(calibrate, "dice_ce_loss", counting)
    two = time_training_step(Candidate(2, 4, 8, 2, (16, 16), 2, in_channels=3, num_classes=3))
    three = time_training_step(Candidate(3, 2, 4, 2, (8, 8, 8), 1))
    assert all(math.isfinite(t) and t > 0 for t in (two, three))
    # 1 warm-up + 3 timed steps each, at the candidate's batch, classes and patch
    assert steps == [(2, 3, 16, 16)] * 4 + [(1, 2, 8, 8, 8)] * 4


def test_the_cpu_profile_times_with_real_steps() -> None:
    profile = profile_for(torch.device("cpu"))
    assert profile.kind == "cpu" and not profile.accelerated and profile.memory_bytes > 2**28
    assert profile.step_seconds(Candidate(2, 4, 8, 2, (16, 16), 1)) > 0
    fake = DeviceProfile("cpu", "fake", 2**30, timer=lambda c: 7.0)
    assert fake.step_seconds(Candidate(2, 4, 8, 2, (16, 16), 1)) == 7.0


def test_out_of_memory_in_calibration_is_an_infinitely_slow_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*args: object) -> float:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(calibrate, "_time_steps", oom)
    assert time_training_step(Candidate(2, 4, 8, 2, (16, 16), 1)) == math.inf

    def bug(*args: object) -> float:
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(calibrate, "_time_steps", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        time_training_step(Candidate(2, 4, 8, 2, (16, 16), 1))
