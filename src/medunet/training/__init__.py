"""The training stage (``medunet train``): set a run up, run the epochs, finish the run folder.

Modules: :mod:`~medunet.training.setup` (data check, plan, run folder, model), :mod:`~medunet.training.loop`
(``train_one_epoch``, the epoch loop), :mod:`~medunet.training.validation`, :mod:`~medunet.training.finish`
(report, model card), :mod:`~medunet.training.run_dir`, :mod:`~medunet.training.progress` (CLI display).
"""

from __future__ import annotations

import logging

from medunet.config import Config
from medunet.evaluation.arrays import Evaluation
from medunet.training.loop import run_epochs
from medunet.training.setup import Run, setup_run
from medunet.training.state import Callbacks, LogRow, StopReason, TrainResult, stop_message

__all__ = ["Callbacks", "LogRow", "StopReason", "TrainResult", "stop_message", "train"]

log = logging.getLogger(__name__)


def train(config: Config, *, resume: bool = False, overwrite: bool = False,
          callbacks: Callbacks | None = None) -> TrainResult:
    """Train a U-Net as ``config`` says and leave a complete run folder in ``config.out``.

    Parameters
    ----------
    config : Config
    resume : bool
        Continue exactly from ``<out>/last.pt``.
    overwrite : bool
        Replace an existing run in ``<out>``.
    callbacks : Callbacks, optional
        Progress hooks: ``on_step`` after every step, ``on_epoch`` with each epoch's :class:`LogRow`.

    Returns
    -------
    TrainResult
        ``stopped`` says why the epochs ended (a :data:`StopReason`; :func:`stop_message` words it);
        ``validation`` is the best checkpoint's evaluation (None when interrupted).

    Raises
    ------
    DatasetError
        Every problem in the dataset, before anything is written.
    FileExistsError
        ``<out>`` holds a run and neither ``resume`` nor ``overwrite`` is set.
    TrainingDiverged
        ``MAX_BAD_STEPS`` non-finite losses in a row; ``<out>/last.pt`` keeps the last good epoch.
    DeviceMemoryError
        The device ran out of memory; the message names a smaller batch and patch to try.
    """
    # matplotlib (curves, report) loads only when a run gets that far
    from medunet.training.finish import finish_run

    run, summary = setup_run(config, resume=resume, overwrite=overwrite)
    stopped = run_epochs(run, callbacks or Callbacks())
    state = run.state
    if stopped == "interrupted":
        log.warning("interrupted: saved %s; continue with --resume", run.run_dir / "last.pt")
        return _result(run, stopped)
    message = stop_message(stopped, config.train.patience)
    if state.best_epoch < 0:
        raise ValueError(f"training stopped before the first validation ({message}); "
                         "give it more time (--time-budget) or check the data")
    validation = finish_run(run, summary, stopped)
    log.info("done: %s; best epoch %d, val foreground Dice %.4f", message, state.best_epoch,
             state.best_metric)
    return _result(run, stopped, validation)


def _result(run: Run, stopped: StopReason, validation: Evaluation | None = None) -> TrainResult:
    """The run's result from its state."""
    s = run.state
    return TrainResult(run.run_dir, s.epoch, s.best_epoch, s.best_metric, s.elapsed, stopped,
                       validation, skipped_steps=s.skipped_steps)
