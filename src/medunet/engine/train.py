"""Training: plain functions over explicit arguments (``train_one_epoch``, ``validate``, ``train``)."""

from __future__ import annotations

import functools
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medunet.config import Config
from medunet.data.augment import augment_batch
from medunet.data.cases import Case
from medunet.data.loader import (
    LoadedCase,
    PatchSampler,
    RawCase,
    prepare_cases,
    read_cases,
    to_slices,
)
from medunet.data.normalize import ct_statistics
from medunet.data.validate import DatasetSummary, load_dataset
from medunet.engine.checkpoint import load_checkpoint, save_checkpoint
from medunet.engine.device import resolve_device
from medunet.engine.evaluate import Evaluation, evaluate_arrays
from medunet.engine.memory import training_memory
from medunet.engine.predict import infer_logits
from medunet.engine.run_dir import check_run_dir, prepare_run_dir, write_json, write_log
from medunet.errors import TrainingDiverged
from medunet.losses import dice_ce_loss
from medunet.models import UNet
from medunet.plan import Plan, make_plan

log = logging.getLogger(__name__)

WARMUP_STEPS = 50
MIN_ITERATIONS = 25
MAX_BAD_STEPS = 5


@dataclass
class RunSummary:
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


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return the generator that drives sampling and augmentation."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (third-party code may use the legacy global RNG)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def split_cases(summary: DatasetSummary, val_fraction: float, seed: int
                ) -> tuple[list[Case], list[Case]]:
    """Training and validation cases: the ``val`` split, or a seeded share of ``train``/``all``.

    A single training case (one volume, say) cannot be split: it is then also the validation
    case, which makes validation optimistic; a warning says so and ``plan.json`` records it.
    """
    pool = summary.cases.get("train") or summary.cases.get("all") or []
    if not pool:
        raise ValueError(f"{summary.root}: no training cases (expected train/images and train/masks)")
    if summary.cases.get("val"):
        return list(pool), list(summary.cases["val"])
    order = np.random.default_rng(seed).permutation(len(pool))
    n_val = max(1, int(round(val_fraction * len(pool))))
    if len(pool) == 1:
        log.warning("%s: only one training case and no val split: validating on the training case "
                    "(optimistic; add a val/ split for honest model selection)", summary.root)
        return list(pool), list(pool)
    val_idx = set(order[:n_val].tolist())
    log.info("no val split: holding out %d of %d training cases (seed %d)", n_val, len(pool), seed)
    return ([c for i, c in enumerate(pool) if i not in val_idx],
            [c for i, c in enumerate(pool) if i in val_idx])


def learning_rate(cfg: Config, state: TrainState, total_steps: int) -> float:
    """Linear warm-up, then polynomial decay over steps or over the time budget, whichever is further."""
    progress = state.step / max(total_steps, 1)
    if cfg.train.time_budget:
        progress = max(progress, state.elapsed / (60.0 * cfg.train.time_budget))
    warm = min(1.0, (state.step + 1) / WARMUP_STEPS)
    return cfg.train.lr * warm * max(0.0, 1.0 - progress) ** 0.9


@torch.no_grad()
def validate(model: torch.nn.Module, cases: Sequence[LoadedCase], plan: Plan,
             names: Sequence[str], device: torch.device) -> tuple[Evaluation, list[np.ndarray]]:
    """Predict every validation case whole and evaluate it; returns the evaluation and label maps."""
    model.eval()
    preds = []
    for c in cases:
        probs = infer_logits(model, torch.from_numpy(c.image).to(device), plan)
        preds.append(probs.argmax(0).cpu().numpy())
    from medunet.data.labels import LabelSet

    labels = LabelSet(tuple(range(len(names))), tuple(names))
    # selection needs only Dice; boundary distances are left to the final report
    ev = evaluate_arrays(((c.case_id, c.mask, p) for c, p in zip(cases, preds, strict=True)), labels,
                         distances=False)
    return ev, preds


def val_row(ev: Evaluation) -> dict[str, float]:
    """The validation columns of ``log.csv``; ``val_dice_fg`` (pooled) selects the best model."""
    doc = ev.to_dict()
    pooled = doc["pooled"]
    present = doc["mean_case"].get("foreground_dice_present", {}).get("mean")
    row = {"val_dice_fg": pooled["foreground_dice"],
           "val_dice_fg_case_present": float("nan") if present is None else present}
    for name, m in list(pooled["per_class"].items())[1:]:
        row[f"val_dice_{name}"] = m["dice"]
    return row


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


def _checkpoint_payload(cfg: Config, plan: Plan, summary_labels: dict[str, str], binary_255: bool,
                        model: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
                        state: TrainState) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "config": cfg.to_dict(),
        "plan": plan.to_dict(),
        "labels": summary_labels,
        "binary_255": binary_255,
        "state": {k: v for k, v in state.__dict__.items() if k != "rows"},
        "log": state.rows,
    }


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


@dataclass
class Run:
    """Everything the epoch loop works on (built by :func:`setup_run`)."""

    cfg: Config
    run_dir: Path
    plan: Plan
    device: torch.device
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    sampler: PatchSampler
    state: TrainState
    val_cases: list[Case]
    val_data: list[LoadedCase]
    labels: dict[str, str]
    binary_255: bool
    iters: int
    n_train: int

    @property
    def names(self) -> list[str]:
        return list(self.labels.values())

    def save(self, name: str) -> None:
        save_checkpoint(_checkpoint_payload(self.cfg, self.plan, self.labels, self.binary_255,
                                            self.model, self.opt, self.gen, self.state),
                        self.run_dir / name)

    def memory(self, stage: str) -> AbstractContextManager[None]:
        return training_memory(self.device, self.plan.batch_size, self.plan.patch_size,
                               self.plan.network.divisor, stage)


def _plan_run(cfg: Config, summary: DatasetSummary, raw_train: Sequence[RawCase],
              ckpt: dict[str, Any] | None, device: torch.device) -> Plan:
    if ckpt:
        return Plan.from_dict(ckpt["plan"])
    plan = make_plan(summary, cfg, spacings=[r.spacing for r in raw_train],
                     accelerated=device.type != "cpu")
    if plan.normalization == "ct":
        plan = replace(plan, intensity=ct_statistics([r.image for r in raw_train],
                                                     [r.mask for r in raw_train], cfg.train.seed))
    return plan


def setup_run(cfg: Config, *, resume: bool, overwrite: bool) -> tuple[Run, DatasetSummary]:
    """Validate the data, plan, prepare the run folder and build model, optimiser and sampler.

    Everything that can be checked is checked before the run folder is created or changed.
    """
    summary = load_dataset(cfg.data.root, cfg.data.labels, cfg.data.label_names)
    if summary.labels is None:  # load_dataset raises first; this keeps the type checker honest
        raise ValueError(f"{cfg.data.root}: no label set")
    run_dir = Path(cfg.out)
    check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    ckpt = load_checkpoint(run_dir / "last.pt") if resume else None
    gen = seed_everything(cfg.train.seed)
    device = resolve_device(cfg.train.device)
    train_cases, val_cases = split_cases(summary, cfg.data.val_fraction, cfg.train.seed)
    raw_train, raw_val = read_cases(train_cases), read_cases(val_cases)
    plan = _plan_run(cfg, summary, raw_train, ckpt, device)
    prepare_run_dir(run_dir, resume=resume, overwrite=overwrite)
    write_json(run_dir / "config.json", cfg.to_dict())
    write_json(run_dir / "plan.json", {**plan.to_dict(), "labels": summary.labels.to_dict(),
                                       "train_cases": [c.case_id for c in train_cases],
                                       "val_cases": [c.case_id for c in val_cases],
                                       "val_is_train": val_cases == train_cases})
    log.info("plan: %dD network%s, patch %s, batch %d, spacing %s, depth %d, widths %s, %d classes, "
             "device %s", plan.network.spatial_dims, " on slices" if plan.slicewise else "",
             plan.patch_size, plan.batch_size, plan.spacing, plan.network.depth,
             plan.network.widths, plan.network.num_classes, device)
    seed = cfg.train.seed
    train_data = prepare_cases(raw_train, plan.normalization, plan.spacing, seed, device, plan.intensity)
    val_data = prepare_cases(raw_val, plan.normalization, plan.spacing, seed, device, plan.intensity)
    model = UNet(plan.network).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    state = TrainState()
    if ckpt:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["generator"])
        state = TrainState(**ckpt["state"], rows=list(ckpt["log"]))
        log.info("resuming from epoch %d, step %d", state.epoch, state.iteration)
    patches = to_slices(train_data, seed) if plan.slicewise else train_data
    sampler = PatchSampler(patches, plan.patch_size, plan.batch_size, cfg.train.foreground_fraction, gen)
    iters = cfg.train.iterations_per_epoch or max(MIN_ITERATIONS, math.ceil(len(patches) / plan.batch_size))
    binary_255 = summary.binary_255 > 0 and summary.labels.num_classes == 2
    run = Run(cfg, run_dir, plan, device, model, opt, gen, sampler, state, list(val_cases), val_data,
              summary.labels.to_dict(), binary_255, iters, len(train_cases))
    return run, summary


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


def train(config: Config, *, resume: bool = False, overwrite: bool = False,
          callbacks: Callbacks | None = None) -> RunSummary:
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
    RunSummary

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
    from medunet.engine.finalize import finalize_run

    run, summary = setup_run(config, resume=resume, overwrite=overwrite)
    stopped = run_epochs(run, callbacks or Callbacks())
    state = run.state
    if stopped == "interrupted":
        log.warning("interrupted: saved %s; continue with --resume", run.run_dir / "last.pt")
        return RunSummary(run.run_dir, state.epoch, state.best_epoch, state.best_metric,
                          state.elapsed, stopped, skipped_steps=state.skipped_steps)
    if state.best_epoch < 0:
        raise ValueError(f"training stopped before the first validation ({stopped}); "
                         "give it more time (--time-budget) or check the data")
    val = finalize_run(run.run_dir, run.cfg, run.plan, run.val_cases, run.val_data, run.names,
                       run.device, state.rows, summary=summary, stopped=stopped,
                       n_train=run.n_train)
    log.info("done: %s; best epoch %d, val foreground Dice %.4f", stopped, state.best_epoch,
             state.best_metric)
    return RunSummary(run.run_dir, state.epoch, state.best_epoch, state.best_metric, state.elapsed,
                      stopped, val, skipped_steps=state.skipped_steps)
