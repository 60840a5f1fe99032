"""Setting a run up: data check, plan, run folder, model, optimiser and sampler."""

from __future__ import annotations

import logging
import math
import random
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medunet.checkpoint import load_checkpoint, save_checkpoint
from medunet.config import Config
from medunet.data.cases import Case
from medunet.data.check import DatasetSummary, check_dataset
from medunet.data.labels import resolve_labels
from medunet.data.loader import (
    LoadedCase,
    PatchSampler,
    prepare_cases,
    read_cases,
    training_cases,
)
from medunet.data.split import Split, make_split
from medunet.device import resolve_device, training_memory
from medunet.models.factory import model_for
from medunet.plan import Plan
from medunet.planning.budget import MIN_ITERATIONS
from medunet.training.planning import plan_run as _plan_run
from medunet.training.run_dir import check_run_dir, prepare_run_dir, write_json
from medunet.training.state import LogRow, TrainState

log = logging.getLogger(__name__)



def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return the generator that drives sampling and augmentation."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (third-party code may use the legacy global RNG)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)

def _checkpoint_payload(run: Run) -> dict[str, Any]:
    """Weights, optimiser, sampler RNG, config, plan, labels, state and log, as plain data."""
    return {
        "model": run.model.state_dict(),
        "optimizer": run.opt.state_dict(),
        "generator": run.gen.get_state(),
        "config": run.cfg.to_dict(),
        "plan": run.plan.to_dict(),
        "labels": run.labels,
        "binary_255": run.binary_255,
        "state": run.state.to_dict(),
        "log": [row.to_columns() for row in run.state.rows],  # plain data: weights_only loads it
    }

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
    #: validation holds slices/scans of the training groups (the best epoch is chosen on the
    #: curve's trend, see :func:`~medunet.training.state.selection_score`)
    optimistic: bool = False

    @property
    def names(self) -> list[str]:
        """Class names, background first."""
        return list(self.labels.values())

    @property
    def total_steps(self) -> int:
        """Steps of the whole run (the learning-rate schedule's length)."""
        return self.iters * self.cfg.train.epochs

    def save(self, name: str) -> None:
        """Write the checkpoint ``run_dir/name`` (atomically, as plain data)."""
        save_checkpoint(_checkpoint_payload(self), self.run_dir / name)

    def memory(self, stage: str) -> AbstractContextManager[None]:
        """Turn running out of device memory in ``stage`` into advice (see :mod:`medunet.device`)."""
        return training_memory(self.device, self.plan.batch_size, self.plan.patch_size,
                               self.plan.network.divisor, stage)

def setup_run(cfg: Config, *, resume: bool, overwrite: bool,
              split: Split | tuple[list[Case], list[Case]] | None = None,
              plan: Plan | None = None) -> tuple[Run, DatasetSummary]:
    """Validate the data, plan, prepare the run folder and build model, optimiser and sampler.

    Everything that can be checked is checked before the run folder is created or changed.
    ``split`` (training, validation cases) replaces :func:`split_cases`'s and ``plan`` the
    run's own (a fold of ``--folds``: all folds share one plan); a resumed run keeps its checkpoint's.
    """
    summary = check_dataset(cfg.data.root,
                            resolve_labels(cfg.data.root, cfg.data.labels, cfg.data.label_names),
                            snap_masks=cfg.data.snap_masks)
    if summary.labels is None:  # check_dataset raises first; this keeps the type checker honest
        raise ValueError(f"{cfg.data.root}: no label set")
    run_dir = Path(cfg.out)
    check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    ckpt = load_checkpoint(run_dir / "last.pt") if resume else None
    gen = seed_everything(cfg.train.seed)
    device = resolve_device(cfg.train.device)
    # a fold's split (a Split, or a (train, val) pair) or the group-aware one (medunet.data.split)
    chosen = (make_split(summary, cfg.data.val_fraction, cfg.train.seed, cfg.data.group_by)
              if split is None else split if isinstance(split, Split) else Split(*split))
    train_cases, val_cases = chosen.train, chosen.val
    raw_train, raw_val = read_cases(train_cases), read_cases(val_cases)
    plan = plan if plan is not None and not ckpt else _plan_run(cfg, summary.labels, raw_train, ckpt, device)
    prepare_run_dir(run_dir, resume=resume, overwrite=overwrite)
    write_json(run_dir / "config.json", cfg.to_dict())
    # + the split: cases and groups of train/val, validation_optimistic and validation_note
    write_json(run_dir / "plan.json", {**plan.to_dict(), "labels": summary.labels.to_dict(),
                                       **chosen.to_dict()})
    log.info("plan: %dD network%s, patch %s, batch %d, spacing %s, depth %d, widths %s, %d classes, "
             "device %s", plan.network.spatial_dims, " on slices" if plan.slicewise else "",
             plan.patch_size, plan.batch_size, plan.spacing, plan.network.depth,
             plan.network.widths, plan.network.num_classes, device)
    seed = cfg.train.seed
    train_data = prepare_cases(raw_train, plan.normalization, plan.spacing, seed, device, plan.intensity)
    val_data = prepare_cases(raw_val, plan.normalization, plan.spacing, seed, device, plan.intensity)
    model = model_for(plan).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    state = TrainState()
    if ckpt:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["generator"])
        state = TrainState(**ckpt["state"], rows=[LogRow.from_columns(c) for c in ckpt["log"]])
        log.info("resuming from epoch %d, step %d", state.epoch, state.iteration)
    patches = training_cases(train_data, seed, slicewise=plan.slicewise, context=plan.context_slices,
                             lesions=plan.sampling == "lesion")
    sampler = PatchSampler(patches, plan.patch_size, plan.batch_size, plan.foreground_fraction, gen,
                           sampling=plan.sampling)
    iters = cfg.train.iterations_per_epoch or max(MIN_ITERATIONS, math.ceil(len(patches) / plan.batch_size))
    binary_255 = summary.binary_255 > 0 and summary.labels.num_classes == 2
    run = Run(cfg, run_dir, plan, device, model, opt, gen, sampler, state, list(val_cases), val_data,
              summary.labels.to_dict(), binary_255, iters, len(train_cases), chosen.optimistic)
    return run, summary
