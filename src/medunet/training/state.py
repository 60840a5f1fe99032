"""What a training run carries and reports: state for exact resume, results, callbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished (or stopped) training run reports."""

    run_dir: Path
    epochs: int
    best_epoch: int
    best_metric: float
    seconds: float
    stopped: str
    val: dict[str, Any] = field(default_factory=dict)
    #: training steps skipped because their loss was NaN or Inf (over the whole run)
    skipped_steps: int = 0

@dataclass
class Callbacks:
    """Hooks for progress display (the CLI uses them; library code never prints)."""

    on_step: Callable[[int, int, int, float], None] | None = None
    on_epoch: Callable[[dict[str, Any]], None] | None = None

@dataclass
class TrainState:
    """Everything that must survive an interruption for an exact resume."""

    epoch: int = 0
    iteration: int = 0
    step: int = 0
    loss_sum: float = 0.0
    best_metric: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    elapsed: float = 0.0
    skipped_steps: int = 0
    bad_steps_in_row: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
