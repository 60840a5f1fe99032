"""The training stage (``medunet train``): set a run up, run the epochs, finish the run folder.

Modules: :mod:`~medunet.training.setup` (data check, plan, run folder, model), :mod:`~medunet.training.loop`
(``train_one_epoch``, the epoch loop), :mod:`~medunet.training.validation`, :mod:`~medunet.training.finish`
(report, model card), :mod:`~medunet.training.run_dir`, :mod:`~medunet.training.progress` (CLI display).
"""

from __future__ import annotations

import logging

from medunet.config import Config
from medunet.training.loop import run_epochs
from medunet.training.setup import setup_run
from medunet.training.state import Callbacks, TrainResult

__all__ = ["Callbacks", "TrainResult", "train"]

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
        Progress hooks.

    Returns
    -------
    TrainResult

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
    from medunet.training.finish import finish_run

    run, summary = setup_run(config, resume=resume, overwrite=overwrite)
    stopped = run_epochs(run, callbacks or Callbacks())
    state = run.state
    if stopped == "interrupted":
        log.warning("interrupted: saved %s; continue with --resume", run.run_dir / "last.pt")
        return TrainResult(run.run_dir, state.epoch, state.best_epoch, state.best_metric,
                          state.elapsed, stopped, skipped_steps=state.skipped_steps)
    if state.best_epoch < 0:
        raise ValueError(f"training stopped before the first validation ({stopped}); "
                         "give it more time (--time-budget) or check the data")
    val = finish_run(run.run_dir, run.cfg, run.plan, run.val_cases, run.val_data, run.names,
                       run.device, state.rows, summary=summary, stopped=stopped,
                       n_train=run.n_train)
    log.info("done: %s; best epoch %d, val foreground Dice %.4f", stopped, state.best_epoch,
             state.best_metric)
    return TrainResult(run.run_dir, state.epoch, state.best_epoch, state.best_metric, state.elapsed,
                      stopped, val, skipped_steps=state.skipped_steps)
