"""A run's plan: the resumed checkpoint's, a plan file's (``train.plan``, ``medunet train --plan``),
or one made from the training cases only (never val or test), sized to the run's device."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from medunet.config import Config
from medunet.data.fingerprint import DatasetFingerprint, fingerprint_cases
from medunet.data.labels import LabelSet
from medunet.data.loader import RawCase
from medunet.data.normalize import ct_statistics
from medunet.plan import Plan, make_plan
from medunet.planning.device_profile import profile_for

log = logging.getLogger(__name__)


def read_plan(path: str | Path) -> Plan:
    """The plan in ``path`` (``medunet plan --out`` or a run's ``plan.json``).

    Raises
    ------
    ValueError
        A missing file, invalid JSON, or JSON that is not a plan.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"train.plan: {p} not found; write one with medunet plan DATA --out {p}")
    try:
        return Plan.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"train.plan: {p} is not a medunet plan ({exc}); write one with "
                         "medunet plan DATA --out FILE") from exc


def check_plan_fits(plan: Plan, fingerprint: DatasetFingerprint, labels: LabelSet, source: str) -> None:
    """Raise ``ValueError`` when ``plan`` was made for data of other channels, classes or dimensionality."""
    channels = fingerprint.channels * (2 * plan.context_slices + 1)
    wrong = [f"{what} {mine} but the data has {theirs}" for what, mine, theirs in (
        ("data_dims", plan.data_dims, fingerprint.data_dims),
        ("input channels", plan.network.in_channels, channels),
        ("classes", plan.network.num_classes, labels.num_classes)) if mine != theirs]
    if wrong:
        raise ValueError(f"{source}: the plan does not fit this dataset ({'; '.join(wrong)}); "
                         "plan it again with medunet plan DATA")


def plan_run(cfg: Config, labels: LabelSet, raw_train: Sequence[RawCase],
             ckpt: dict[str, Any] | None, device: torch.device, *, n_val: int | None = None) -> Plan:
    """The resumed run's plan, else ``cfg.train.plan``'s, else one made from ``raw_train``.

    Parameters
    ----------
    cfg : Config
    labels : LabelSet
    raw_train : sequence of RawCase
        The training cases (the fingerprint never sees validation or test cases).
    ckpt : dict, optional
        A resumed run's checkpoint: its plan is kept.
    device : torch.device
        The training device: the plan is sized to it (and to ``train.time_budget``).
    n_val : int, optional
        Validation cases (their share of the budget); default: from ``data.val_fraction``.

    Raises
    ------
    ValueError
        A plan file that is missing, not a plan, or made for other data.
    """
    if ckpt:
        return Plan.from_dict(ckpt["plan"])
    fingerprint = fingerprint_cases(raw_train)
    if cfg.train.plan:
        plan = read_plan(cfg.train.plan)
        check_plan_fits(plan, fingerprint, labels, f"train.plan {cfg.train.plan}")
        log.info("training with the plan in %s", cfg.train.plan)
    else:
        plan = make_plan(fingerprint, labels, cfg, accelerated=device.type != "cpu",
                         device=profile_for(device), val_cases=n_val)
    if plan.normalization == "ct" and not plan.intensity:
        plan = replace(plan, intensity=ct_statistics([r.image for r in raw_train],
                                                     [r.mask for r in raw_train], cfg.train.seed))
    return plan
