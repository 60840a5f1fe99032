"""The epoch loop: ``train_one_epoch`` over explicit arguments, validation and checkpoints at each epoch's end."""

from __future__ import annotations

import functools
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from medunet.config import Config
from medunet.data.augment import augment_batch
from medunet.data.loader import (
    PatchSampler,
)
from medunet.errors import TrainingDiverged
from medunet.losses import dice_ce_loss
from medunet.training.run_dir import write_log
from medunet.training.setup import Run
from medunet.training.state import Callbacks, TrainState
from medunet.training.validation import val_row, validate

log = logging.getLogger(__name__)


WARMUP_STEPS = 50

MAX_BAD_STEPS = 5

def learning_rate(cfg: Config, state: TrainState, total_steps: int) -> float:
    """Linear warm-up, then polynomial decay over steps or over the time budget, whichever is further."""
    progress = state.step / max(total_steps, 1)
    if cfg.train.time_budget:
        progress = max(progress, state.elapsed / (60.0 * cfg.train.time_budget))
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

def train_one_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, sampler: PatchSampler,
                    cfg: Config, state: TrainState, iters: int, total_steps: int,
                    device: torch.device, gen: torch.Generator, stop: threading.Event,
                    callbacks: Callbacks, clock: Callable[[], float]) -> str | None:
    """Run the rest of the current epoch from ``state.iteration``; returns a stop reason or None."""
    model.train()
    amp = cfg.train.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    # fp16 needs loss scaling against gradient underflow/overflow; bf16 and fp32 do not
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    while state.iteration < iters:
        if cfg.train.time_budget and state.elapsed + clock() >= 60.0 * cfg.train.time_budget:
            return "time budget spent"
        lr = learning_rate(cfg, replace(state, elapsed=state.elapsed + clock()), total_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        img, msk = sampler.sample()
        img, msk = augment_batch(img.to(device), msk.to(device), cfg.train.augment, gen)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
            loss = dice_ce_loss(model(img), msk, batch_dice=cfg.train.batch_dice)
        value = float(loss.detach())  # the one host sync of the step
        if not math.isfinite(value):
            # skip the update: one bad batch must not turn the weights into NaN
            state.skipped_steps += 1
            state.bad_steps_in_row += 1
            log.warning("non-finite loss at epoch %d step %d: step skipped", state.epoch + 1,
                        state.iteration + 1)
            if state.bad_steps_in_row >= MAX_BAD_STEPS:
                return (f"{MAX_BAD_STEPS} non-finite (NaN/Inf) losses in a row at epoch "
                        f"{state.epoch + 1}, step {state.iteration + 1}")
        else:
            state.bad_steps_in_row = 0
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.train.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            scaler.step(opt)  # skips the update when the scaled gradients overflowed
            scaler.update()
            state.loss_sum += value
        state.iteration += 1
        state.step += 1
        if callbacks.on_step:
            callbacks.on_step(state.epoch, state.iteration, iters, value)
        if stop.is_set():
            return "interrupted"
    return None

def _diverged(reason: str, run_dir: Path, state: TrainState, cfg: Config) -> TrainingDiverged:
    """The error for a run stopped by non-finite losses: what happened, what is kept, what to try."""
    last = run_dir / "last.pt"
    kept = (f"{last} keeps the last good epoch ({state.epoch})" if last.is_file()
            else "no epoch finished, so there is no checkpoint")
    return TrainingDiverged(
        f"training stopped: {reason} ({state.skipped_steps} step(s) skipped in all); {kept}. "
        f"Try a lower learning rate (--lr {cfg.train.lr / 10:g}), --set train.amp=false on a GPU, "
        "and check the images for extreme values; then --resume with the new --lr, or --overwrite"
    )

def _end_epoch(run: Run, t0: float, callbacks: Callbacks) -> dict[str, Any]:
    """Validate, log, checkpoint (``best.pt`` on improvement, ``last.pt`` always)."""
    state = run.state
    with run.memory("validation"):
        ev, _ = validate(run.model, run.val_data, run.plan, run.names, run.device)
    row = {"epoch": state.epoch + 1, "train_loss": state.loss_sum / max(state.iteration, 1),
           **val_row(ev), "lr": run.opt.param_groups[0]["lr"], "skipped_steps": state.skipped_steps}
    state.elapsed += time.perf_counter() - t0
    row.update(seconds=round(time.perf_counter() - t0, 3), elapsed=round(state.elapsed, 3))
    state.rows.append(row)
    improved = row["val_dice_fg"] > state.best_metric
    if improved:
        state.best_metric, state.best_epoch, state.bad_epochs = row["val_dice_fg"], state.epoch + 1, 0
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

def run_epochs(run: Run, callbacks: Callbacks) -> str:
    """The epoch loop; returns why it stopped."""
    cfg, state = run.cfg, run.state
    total_steps = run.iters * cfg.train.epochs
    with stop_on_signals() as stop:
        while state.epoch < cfg.train.epochs:
            t0 = time.perf_counter()
            with run.memory("training"):
                reason = train_one_epoch(run.model, run.opt, run.sampler, cfg, state, run.iters,
                                         total_steps, run.device, run.gen, stop, callbacks,
                                         functools.partial(_seconds_since, t0))
            if reason and "non-finite" in reason:
                # last.pt stays the last good epoch's: these weights may already be diverging
                raise _diverged(reason, run.run_dir, state, cfg)
            if reason == "interrupted":
                state.elapsed += time.perf_counter() - t0
                run.save("last.pt")
                return reason
            _end_epoch(run, t0, callbacks)
            if reason:
                return reason
            if cfg.train.patience and state.bad_epochs >= cfg.train.patience:
                return f"early stopping: no improvement for {cfg.train.patience} epochs"
            if stop.is_set():
                return "interrupted"
    return "epochs done"
