"""The epoch loop: ``train_one_epoch`` over the run it works on, validation and checkpoints at
each epoch's end."""

from __future__ import annotations

import functools
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from medunet.config import Config
from medunet.data.augment import augment_batch
from medunet.errors import TrainingDiverged
from medunet.losses import LossFn, deep_supervision_loss, loss_for
from medunet.plan import Plan
from medunet.training.run_dir import write_log
from medunet.training.setup import Run
from medunet.training.state import Callbacks, LogRow, StopReason, TrainState, selection_score
from medunet.training.validation import val_row, validate

log = logging.getLogger(__name__)


WARMUP_STEPS = 50

MAX_BAD_STEPS = 5


def budget_seconds(cfg: Config, plan: Plan) -> float | None:
    """Training seconds the time budget leaves: ``train.time_budget`` minutes less the planner's
    calibration (``plan.calibration["seconds"]``), which the budget covers too; None: no budget."""
    if not cfg.train.time_budget:
        return None
    return max(0.0, 60.0 * cfg.train.time_budget - float(plan.calibration.get("seconds", 0.0)))


def learning_rate(cfg: Config, state: TrainState, total_steps: int,
                  budget_s: float | None = None) -> float:
    """Linear warm-up, then polynomial decay over steps or over the time budget's ``budget_s``
    seconds (see :func:`budget_seconds`), whichever is further."""
    progress = state.step / max(total_steps, 1)
    if budget_s is not None:
        progress = max(progress, state.elapsed / max(budget_s, 1e-9))
    warm = min(1.0, (state.step + 1) / WARMUP_STEPS)
    return cfg.train.lr * warm * max(0.0, 1.0 - progress) ** 0.9


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event instead of killing the process mid-write."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _seconds_since(t0: float) -> float:
    return time.perf_counter() - t0


@dataclass(frozen=True)
class _Precision:
    """Mixed precision of the training steps: autocast dtype and the (fp16-only) loss scaler."""

    amp: bool
    dtype: torch.dtype
    scaler: torch.amp.GradScaler


def _precision(cfg: Config, device: torch.device) -> _Precision:
    """bf16 autocast where the GPU has it, else fp16 with loss scaling; fp32 off CUDA or without amp."""
    amp = cfg.train.amp and device.type == "cuda"
    dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    # fp16 needs loss scaling against gradient underflow/overflow; bf16 and fp32 do not
    return _Precision(amp, dtype, torch.amp.GradScaler("cuda", enabled=amp and dtype == torch.float16))


def _step(run: Run, precision: _Precision, loss_fn: LossFn) -> float:
    """One step on a fresh batch; returns its loss; a non-finite loss leaves the weights untouched.

    The loss is ``plan.loss``'s; with deep supervision (the model returns the logits of
    several resolutions in training mode) their weighted sum (:func:`deep_supervision_loss`).
    """
    cfg, model, opt = run.cfg, run.model, run.opt
    img, msk = run.sampler.sample()
    img, msk = augment_batch(img.to(run.device), msk.to(run.device), cfg.train.augment, run.gen)
    with torch.autocast(run.device.type, dtype=precision.dtype, enabled=precision.amp):
        out = model(img)
        loss = deep_supervision_loss(out, msk, loss_fn) if isinstance(out, list) else loss_fn(out, msk)
    value = float(loss.detach())  # the one host sync of the step
    if not math.isfinite(value):
        return value  # skip the update: one bad batch must not turn the weights into NaN
    scaler = precision.scaler
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.train.grad_clip > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
    scaler.step(opt)  # skips the update when the scaled gradients overflowed
    scaler.update()
    return value


def _count_bad_step(state: TrainState) -> bool:
    """Count a skipped non-finite step; True once ``MAX_BAD_STEPS`` came in a row."""
    state.skipped_steps += 1
    state.bad_steps_in_row += 1
    log.warning("non-finite loss at epoch %d step %d: step skipped", state.epoch + 1,
                state.iteration + 1)
    return state.bad_steps_in_row >= MAX_BAD_STEPS


def train_one_epoch(run: Run, stop: threading.Event, callbacks: Callbacks,
                    clock: Callable[[], float]) -> StopReason | None:
    """Run the rest of the current epoch from ``run.state.iteration``.

    Parameters
    ----------
    run : Run
        Model, optimiser, sampler, config and the :class:`TrainState` it advances.
    stop : threading.Event
        Set by SIGINT/SIGTERM: the epoch ends after the current step.
    callbacks : Callbacks
        ``on_step`` is called after every step.
    clock : callable
        Seconds spent in this epoch so far (for the time budget and the learning rate).

    Returns
    -------
    StopReason or None
        ``"time_budget"``, ``"interrupted"`` or ``"diverged"`` (``MAX_BAD_STEPS`` non-finite
        losses in a row; ``state.iteration`` is then the failing step) when the epoch ended early;
        None when it ran to its end.
    """
    cfg, state = run.cfg, run.state
    run.model.train()
    precision = _precision(cfg, run.device)
    loss_fn = loss_for(run.plan.loss, cfg.train.batch_dice)
    budget = budget_seconds(cfg, run.plan)
    while state.iteration < run.iters:
        if budget is not None and state.elapsed + clock() >= budget:
            return "time_budget"
        lr = learning_rate(cfg, replace(state, elapsed=state.elapsed + clock()), run.total_steps, budget)
        for group in run.opt.param_groups:
            group["lr"] = lr
        value = _step(run, precision, loss_fn)
        if not math.isfinite(value):
            if _count_bad_step(state):
                return "diverged"
        else:
            state.bad_steps_in_row = 0
            state.loss_sum += value
        state.iteration += 1
        state.step += 1
        if callbacks.on_step:
            callbacks.on_step(state.epoch, state.iteration, run.iters, value)
        if stop.is_set():
            return "interrupted"
    return None


def _diverged(run: Run) -> TrainingDiverged:
    """The error for a run stopped by non-finite losses: what happened, what is kept, what to try."""
    state, last = run.state, run.run_dir / "last.pt"
    kept = (f"{last} keeps the last good epoch ({state.epoch})" if last.is_file()
            else "no epoch finished, so there is no checkpoint")
    return TrainingDiverged(
        f"training stopped: {MAX_BAD_STEPS} non-finite (NaN/Inf) losses in a row at epoch "
        f"{state.epoch + 1}, step {state.iteration + 1} ({state.skipped_steps} step(s) skipped in "
        f"all); {kept}. Try a lower learning rate (--lr {run.cfg.train.lr / 10:g}), --set "
        "train.amp=false on a GPU, and check the images for extreme values; then --resume with the "
        "new --lr, or --overwrite"
    )


def _end_epoch(run: Run, t0: float, callbacks: Callbacks) -> LogRow:
    """Validate, log, checkpoint (``best.pt`` on improvement, ``last.pt`` always)."""
    state = run.state
    with run.memory("validation"):
        ev, _ = validate(run.model, run.val_data, run.plan, run.names, run.device)
    train_loss, lr = state.loss_sum / max(state.iteration, 1), run.opt.param_groups[0]["lr"]
    state.elapsed += time.perf_counter() - t0
    # val_row gives the validation columns of log.csv; parsing them is the one way into a LogRow
    row = LogRow.from_columns({"epoch": state.epoch + 1, "train_loss": train_loss, **val_row(ev),
                               "lr": lr, "skipped_steps": state.skipped_steps,
                               "seconds": round(time.perf_counter() - t0, 3),
                               "elapsed": round(state.elapsed, 3)})
    state.rows.append(row)
    score = selection_score(state.rows, run.optimistic)
    improved = score > (state.best_metric if state.best_score is None else state.best_score)
    if improved:
        state.best_metric, state.best_epoch, state.bad_epochs = row.val_dice_fg, row.epoch, 0
        state.best_score = score
    else:
        state.bad_epochs += 1
    state.epoch, state.iteration, state.loss_sum = state.epoch + 1, 0, 0.0
    if improved:
        run.save("best.pt")
    run.save("last.pt")
    write_log(run.run_dir / "log.csv", state.rows)
    if callbacks.on_epoch:
        callbacks.on_epoch(row)
    return row


def run_epochs(run: Run, callbacks: Callbacks) -> StopReason:
    """The epoch loop; returns why it stopped.

    Raises
    ------
    TrainingDiverged
        ``MAX_BAD_STEPS`` non-finite losses in a row; ``last.pt`` keeps the last good epoch.
    """
    cfg, state = run.cfg, run.state
    with stop_on_signals() as stop:
        while state.epoch < cfg.train.epochs:
            t0 = time.perf_counter()
            with run.memory("training"):
                reason = train_one_epoch(run, stop, callbacks, functools.partial(_seconds_since, t0))
            if reason == "diverged":
                # last.pt stays the last good epoch's: these weights may already be diverging
                raise _diverged(run)
            if reason == "interrupted":
                state.elapsed += time.perf_counter() - t0
                run.save("last.pt")
                return reason
            if reason == "time_budget" and state.iteration == 0 and state.rows:
                # the budget ran out before this epoch's first step: nothing new to validate
                # (a first epoch is still validated, so that every run has a best.pt)
                state.elapsed += time.perf_counter() - t0
                return reason
            _end_epoch(run, t0, callbacks)
            if reason:
                return reason
            if cfg.train.patience and state.bad_epochs >= cfg.train.patience:
                return "early_stopping"
            if stop.is_set():
                return "interrupted"
    return "epochs_done"
