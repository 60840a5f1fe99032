"""The training stage (``medunet train``): set a run up, run the epochs, finish the run folder.

Modules: :mod:`~medunet.training.setup` (data check, plan, run folder, model), :mod:`~medunet.training.loop`
(``train_one_epoch``, the epoch loop), :mod:`~medunet.training.validation`, :mod:`~medunet.training.finish`
(report, model card), :mod:`~medunet.training.run_dir`, :mod:`~medunet.training.progress` (CLI display),
:mod:`~medunet.training.single` (one run), :mod:`~medunet.training.folds` and
:mod:`~medunet.training.cross_validation` (``--folds K``).
"""

from __future__ import annotations

import logging

from medunet.config import Config
from medunet.training.single import train_single
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
        Continue exactly from ``<out>/last.pt`` (a ``--folds`` run: skip the finished folds and
        continue the unfinished one from its ``last.pt``).
    overwrite : bool
        Replace an existing run in ``<out>``.
    callbacks : Callbacks, optional
        Progress hooks: ``on_step`` after every step, ``on_epoch`` with each epoch's :class:`LogRow`.

    Returns
    -------
    TrainResult
        ``stopped`` says why the epochs ended (a :data:`StopReason`; :func:`stop_message` words it);
        ``validation`` is the best checkpoint's evaluation (None when interrupted).
        With ``config.train.folds = K >= 2``: K-fold cross-validation
        (:func:`~medunet.training.folds.train_folds`), a :class:`~medunet.training.folds.FoldsResult`
        whose ``best_metric`` and ``validation`` are the pooled out-of-fold estimate.

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
    ValueError
        ``--folds K`` with fewer groups of cases than K, or resumed with other folds.
    """
    if config.train.folds > 1:
        from medunet.training.folds import train_folds

        return train_folds(config, resume=resume, overwrite=overwrite, callbacks=callbacks)
    return train_single(config, resume=resume, overwrite=overwrite, callbacks=callbacks)
