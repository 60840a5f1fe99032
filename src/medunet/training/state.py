"""What a training run carries and reports: state for exact resume, log rows, stop reasons,
results, callbacks."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from medunet.evaluation.arrays import Evaluation

log = logging.getLogger(__name__)

#: Why the epoch loop ended. ``diverged`` never reaches a :class:`TrainResult`: it raises
#: :class:`~medunet.errors.TrainingDiverged`.
StopReason = Literal["epochs_done", "time_budget", "early_stopping", "interrupted", "diverged"]

_STOP_MESSAGES: dict[StopReason, str] = {
    "epochs_done": "epochs done",
    "time_budget": "time budget spent",
    "early_stopping": "early stopping: no improvement for {patience} epochs",
    "interrupted": "interrupted",
    "diverged": "diverged: non-finite (NaN/Inf) losses in a row",
}


def stop_message(reason: StopReason | None, patience: int = 0) -> str:
    """The words shown for a stop reason (CLI line, model card, log).

    Parameters
    ----------
    reason : StopReason or None
        None when it is not known why training ended.
    patience : int
        ``train.patience``, named in the early-stopping message.

    Examples
    --------
    >>> stop_message("early_stopping", patience=3)
    'early stopping: no improvement for 3 epochs'
    >>> stop_message(None)
    'stopped early (see the training log)'
    """
    if reason is None:
        return "stopped early (see the training log)"
    return _STOP_MESSAGES[reason].format(patience=patience)


# the fixed columns of log.csv around the per-class ones, in file order
_HEAD = ("epoch", "train_loss", "val_dice_fg", "val_dice_fg_case_present")
_TAIL = ("lr", "skipped_steps", "seconds", "elapsed")


@dataclass(frozen=True)
class LogRow:
    """One epoch of the training log: a row of ``log.csv``.

    Plain data in the checkpoint and CSV only at those boundaries (:meth:`to_columns`,
    :meth:`from_columns`); everything inside the package reads the attributes.
    """

    epoch: int
    train_loss: float
    #: pooled validation foreground Dice: selects the best checkpoint
    val_dice_fg: float
    #: mean foreground Dice over the validation cases whose reference has the class (NaN if none)
    val_dice_fg_case_present: float
    #: pooled validation Dice per foreground class, by class name
    val_dice: Mapping[str, float]
    lr: float
    #: non-finite steps skipped so far in the whole run (cumulative)
    skipped_steps: int
    #: seconds of this epoch, validation included
    seconds: float
    #: seconds of the whole run so far
    elapsed: float

    def to_columns(self) -> dict[str, float]:
        """The ``log.csv`` columns in file order (also the checkpoint's plain-data form)."""
        return {"epoch": self.epoch, "train_loss": self.train_loss, "val_dice_fg": self.val_dice_fg,
                "val_dice_fg_case_present": self.val_dice_fg_case_present,
                **{f"val_dice_{name}": v for name, v in self.val_dice.items()},
                "lr": self.lr, "skipped_steps": self.skipped_steps, "seconds": self.seconds,
                "elapsed": self.elapsed}

    @classmethod
    def from_columns(cls, cols: Mapping[str, float | int | str]) -> LogRow:
        """A row from :meth:`to_columns` output, a checkpoint's ``log`` or a parsed ``log.csv``.

        Rows of runs from older versions may lack ``val_dice_fg_case_present`` (read as NaN) and
        ``skipped_steps`` (those versions skipped none: 0).

        Raises
        ------
        ValueError
            A required column (``epoch``, ``train_loss``, ``val_dice_fg``, ``lr``) is missing.
        """
        missing = [k for k in ("epoch", "train_loss", "val_dice_fg", "lr") if k not in cols]
        if missing:
            raise ValueError(f"training log row lacks {', '.join(missing)}: {dict(cols)}")
        fixed = set(_HEAD) | set(_TAIL)
        per_class = {k[len("val_dice_"):]: float(v) for k, v in cols.items()
                     if k.startswith("val_dice_") and k not in fixed}
        return cls(epoch=int(cols["epoch"]), train_loss=float(cols["train_loss"]),
                   val_dice_fg=float(cols["val_dice_fg"]),
                   val_dice_fg_case_present=_number(cols.get("val_dice_fg_case_present")),
                   val_dice=per_class, lr=float(cols["lr"]),
                   skipped_steps=int(cols.get("skipped_steps") or 0),
                   seconds=_number(cols.get("seconds")), elapsed=_number(cols.get("elapsed")))


def _number(value: float | int | str | None) -> float:
    """A float from a column that may be absent or empty (NaN then)."""
    return math.nan if value is None or value == "" else float(value)


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or interrupted) training run reports."""

    run_dir: Path
    #: epochs completed
    epochs: int
    best_epoch: int
    #: pooled validation foreground Dice of the best epoch
    best_metric: float
    seconds: float
    stopped: StopReason
    #: the best checkpoint's evaluation on the validation cases (None when interrupted)
    validation: Evaluation | None = None
    #: training steps skipped because their loss was NaN or Inf (over the whole run)
    skipped_steps: int = 0


@dataclass(frozen=True)
class Callbacks:
    """Hooks for progress display (the CLI uses them; library code never prints).

    ``on_step(epoch, iteration, iterations, loss)`` after every step (0-based epoch, 1-based
    iteration); ``on_epoch(row)`` after every validation, with that epoch's :class:`LogRow`.
    """

    on_step: Callable[[int, int, int, float], None] | None = None
    on_epoch: Callable[[LogRow], None] | None = None


@dataclass
class TrainState:
    """Everything that must survive an interruption for an exact resume."""

    epoch: int = 0
    iteration: int = 0
    step: int = 0
    loss_sum: float = 0.0
    best_metric: float = -1.0
    best_epoch: int = -1
    #: what the best epoch was chosen on (:func:`selection_score`); None in checkpoints that
    #: predate it, where it was ``best_metric``
    best_score: float | None = None
    bad_epochs: int = 0
    elapsed: float = 0.0
    skipped_steps: int = 0
    bad_steps_in_row: int = 0
    rows: list[LogRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, float]:
        """The checkpoint's ``state``: every field but ``rows`` (stored as the checkpoint's ``log``)."""
        return {k: v for k, v in vars(self).items() if k != "rows"}


#: smoothing of the validation curve that selects the best epoch under optimistic validation
EMA_ALPHA = 0.5


def selection_score(rows: Sequence[LogRow], optimistic: bool) -> float:
    """The value the last epoch of ``rows`` competes on for the best checkpoint.

    Its pooled validation foreground Dice (which never rewards predicting nothing); when
    validation is optimistic (held-out slices or scans of the training patient), the
    exponential moving average of that curve (``EMA_ALPHA``), so that one lucky epoch on
    cases that look like the training cases does not win: the trend does.

    >>> from types import SimpleNamespace
    >>> rows = [SimpleNamespace(val_dice_fg=v) for v in (0.2, 0.9, 0.4)]
    >>> selection_score(rows, False), round(selection_score(rows, True), 4)
    (0.4, 0.475)
    """
    if not optimistic:
        return float(rows[-1].val_dice_fg)
    smooth = None
    for r in rows:
        v = float(r.val_dice_fg) if math.isfinite(r.val_dice_fg) else 0.0
        smooth = v if smooth is None else EMA_ALPHA * v + (1 - EMA_ALPHA) * smooth
    return float(smooth if smooth is not None else -1.0)
