"""Choosing the candidate that trains enough steps in the time budget.

Steps in the budget = budget seconds x (1 - validation share) / measured seconds per step;
the planner takes the largest candidate whose steps reach the target (``TARGET_STEPS``),
timing the ladder cheapest first and stopping at the first candidate that misses it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from medunet.planning.device_profile import DeviceProfile
from medunet.planning.ladder import Candidate, training_memory_bytes

log = logging.getLogger(__name__)

#: training steps a run should reach in its budget, per network dimensionality (colin27_brain
#: reached Dice 0.94 at about 1175 steps of batch 8); retuned after measurement
TARGET_STEPS: dict[int, int] = {2: 1200, 3: 1000}
#: calibration stops (keeping the best candidate so far) once it has used this share of the budget
CALIBRATION_SHARE = 0.03
#: share of the device memory a training step may plan to use
MEMORY_SHARE = 0.9
#: an epoch has at least this many steps (as in :mod:`medunet.training.setup`)
MIN_ITERATIONS = 25


def _tiles(size: int, tile: int) -> int:
    """Sliding-window tiles (half overlap) along an axis of ``size`` with tiles of ``tile``."""
    return 1 if size <= tile else math.ceil((size - tile) / (tile / 2)) + 1


def validation_share(c: Candidate, median: Sequence[int], n_train: int, n_val: int,
                     iterations: int | None = None) -> float:
    """Estimated share of the training time that validation (once per epoch) takes.

    A validation tile costs a forward pass, about a third of a training step per sample, so
    one epoch validates in ``n_val x tiles / (3 x batch)`` step-equivalents against
    ``iterations`` (default ``max(MIN_ITERATIONS, training items / batch)``) training steps.
    A 2D network on volumes validates every slice and trains on slices.

    Parameters
    ----------
    c : Candidate
    median : sequence of int
        Median training image (all data axes).
    n_train, n_val : int
        Training and validation cases.
    iterations : int, optional
        ``train.iterations_per_epoch``.
    """
    slices = int(median[0]) if len(median) > c.spatial_dims else 1
    tiles = math.prod(_tiles(int(m), int(p)) for m, p in zip(median[-c.spatial_dims:], c.patch,
                                                             strict=True)) * slices
    steps = iterations or max(MIN_ITERATIONS, math.ceil(n_train * slices / c.batch))
    val = n_val * tiles / (3 * c.batch)
    return val / (val + steps)


def size_to_budget(ladder: Sequence[Candidate], profile: DeviceProfile, budget_minutes: float | None,
                   share_of: Callable[[Candidate], float]) -> tuple[Candidate, dict[str, Any]]:
    """The largest candidate of ``ladder`` that fits the device and the budget.

    Parameters
    ----------
    ladder : sequence of Candidate
        Smallest first (:func:`medunet.planning.ladder.build_ladder`).
    profile : DeviceProfile
    budget_minutes : float, optional
        ``None``: the largest candidate that fits the memory (timed once, for the record).
    share_of : callable
        ``share_of(candidate)``: the validation share of the budget (:func:`validation_share`).

    Returns
    -------
    Candidate, dict
        The choice and ``plan.calibration``: device, seconds per step, steps in the budget,
        target, the candidates tried with their times, and the calibration seconds.
    """
    fits = [c for c in ladder if training_memory_bytes(c) <= MEMORY_SHARE * profile.memory_bytes]
    if not fits:
        log.warning("no candidate network fits the %.1f GiB of %s; planning the smallest",
                    profile.memory_bytes / 2**30, profile.name)
        fits = [ladder[0]]
    target = TARGET_STEPS[ladder[0].spatial_dims]
    budget = None if budget_minutes is None else budget_minutes * 60.0
    t0, tried = time.perf_counter(), []
    chosen: tuple[Candidate, dict[str, Any]] | None = None
    for c in (fits if budget is not None else fits[-1:]):
        spent = time.perf_counter() - t0
        if chosen is not None and budget is not None and spent > CALIBRATION_SHARE * budget:
            log.info("calibration stopped after %.1f s (%.0f %% of the budget)", spent,
                     100 * CALIBRATION_SHARE)
            break
        seconds = profile.step_seconds(c)  # inf: out of memory in spite of the estimate
        steps = None if budget is None else int(budget * (1 - share_of(c)) / seconds)
        tried.append({**c.to_dict(), "seconds_per_step": round(seconds, 6) if math.isfinite(seconds)
                      else None, "steps_in_budget": steps})
        if steps is not None and steps < target:
            break
        chosen = (c, tried[-1])
    best, record = chosen or (fits[0], tried[0])
    return best, {"device": profile.describe(), "seconds_per_step": record["seconds_per_step"],
                  "steps_in_budget": record["steps_in_budget"], "target_steps": target,
                  "budget_minutes": budget_minutes, "candidates": tried,
                  "seconds": round(time.perf_counter() - t0, 3)}
