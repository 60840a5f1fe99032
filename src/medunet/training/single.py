"""One training run into one run folder: set up, run the epochs, finish (report, model card)."""

from __future__ import annotations

import logging

from medunet.config import Config
from medunet.data.cases import Case
from medunet.data.split import Split
from medunet.evaluation.arrays import Evaluation
from medunet.plan import Plan
from medunet.training.loop import run_epochs
from medunet.training.setup import Run, setup_run
from medunet.training.state import Callbacks, StopReason, TrainResult, stop_message

log = logging.getLogger(__name__)


def train_single(config: Config, *, resume: bool = False, overwrite: bool = False,
                 callbacks: Callbacks | None = None,
                 split: Split | tuple[list[Case], list[Case]] | None = None,
                 plan: Plan | None = None) -> TrainResult:
    """Train one U-Net into ``config.out`` (see :func:`medunet.training.train`).

    Parameters
    ----------
    config, resume, overwrite, callbacks
        As for :func:`medunet.training.train`.
    split : Split or (list of Case, list of Case), optional
        Training and validation cases; default: the dataset's group-aware split
        (:func:`~medunet.data.split.make_split`).
    plan : Plan, optional
        A plan made elsewhere (all folds of ``--folds`` share one); default: planned from the
        training cases. A resumed run keeps its checkpoint's plan.

    Raises
    ------
    ValueError
        Training stopped before its first validation (too little time).
    """
    # matplotlib (curves, report) loads only when a run gets that far
    from medunet.training.finish import finish_run

    run, summary = setup_run(config, resume=resume, overwrite=overwrite, split=split, plan=plan)
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
