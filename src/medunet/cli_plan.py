"""``medunet plan DATA``: check, split and fingerprint a dataset, plan (with calibration on the
device) and print the plan; ``--out`` writes it for ``medunet train DATA --plan FILE``.

Standard library at import (``medunet --help`` stays light); the handler imports its stage.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medunet.cli_options import DEVICES, SubParsers, add_labels, add_snap

if TYPE_CHECKING:
    from medunet.plan import Plan

__all__ = ["add_plan", "cmd_plan", "plan_summary"]


def add_plan(sub: SubParsers) -> None:
    """The ``plan`` subcommand's parser."""
    p = sub.add_parser("plan", help="plan a network for a dataset, sized to the device and the "
                                    "time budget, without training")
    p.add_argument("data", type=Path, help="dataset folder")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="the training time to size the network for (calibrated on the device)")
    p.add_argument("--device", choices=DEVICES)  # no default: the config's train.device decides
    p.add_argument("--out", type=Path, help="write the plan (JSON) here, for medunet train --plan")
    add_labels(p, names=False)
    add_snap(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field, e.g. --set model.base_width=32 (repeatable)")


def _axes(values: Any, unit: str = "") -> str:
    return " x ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) + unit


def _network_line(plan: Plan) -> str:
    net = plan.network
    kind = (f"2D network on the slices of {plan.data_dims}D volumes" if plan.slicewise
            else f"{net.spatial_dims}D network on {plan.data_dims}D images")
    context = (f", 2.5D: {plan.context_slices} slice(s) each side ({net.in_channels} input channels)"
               if plan.context_slices else "")
    return f"  {kind}{context}"


def _budget_line(calibration: dict[str, Any]) -> str:
    if not calibration:
        return "  sizing: no time budget on the CPU: the median image within the CPU patch limits"
    device = calibration.get("device", {})
    budget = calibration.get("budget_minutes")
    steps = calibration.get("steps_in_budget")
    tail = (f"{steps} steps in {budget:g} min (target {calibration.get('target_steps')})"
            if budget is not None else "no budget: the largest network that fits the memory")
    return (f"  device: {device.get('name', '?')} ({device.get('memory_gib', '?')} GiB): "
            f"{calibration.get('seconds_per_step', 0):.3g} s/step expected, {tail}; calibrated "
            f"{len(calibration.get('candidates', []))} candidate(s) in {calibration.get('seconds', 0):.1f} s")


def plan_summary(plan: Plan, *, n_train: int, n_val: int, note: str = "") -> str:
    """A readable summary of ``plan`` (what ``medunet plan`` prints)."""
    net = plan.network
    lines = [f"plan ({n_train} training cases, {n_val} validation cases)", _network_line(plan),
             f"  spacing: {_axes(plan.spacing, ' mm')}   median image: {_axes(plan.median_shape)}",
             f"  patch: {_axes(plan.patch_size)}   batch: {plan.batch_size}   depth: {net.depth}   "
             f"widths: {', '.join(map(str, net.widths))}",
             f"  normalisation: {plan.normalization}",
             f"  regime: {plan.regime}: {plan.sampling} sampling, foreground fraction "
             f"{plan.foreground_fraction:.2f}, loss {plan.loss}, deep supervision "
             f"{'on' if plan.deep_supervision else 'off'}",
             _budget_line(plan.calibration)]
    if note:  # the split's note starts "validation is ..." already
        lines.append(f"  {note}" if note.startswith("validation") else f"  validation: {note}")
    return "\n".join(lines)


def _split(summary: Any, cfg: Any) -> tuple[list[Any], list[Any], str]:
    """Training and validation cases as training would split them, and the split's note."""
    from medunet.data import split as split_module

    if hasattr(split_module, "make_split"):
        s = split_module.make_split(summary, cfg.data.val_fraction, cfg.train.seed, cfg.data.group_by)
        return list(s.train), list(s.val), str(getattr(s, "note", ""))
    train, val = split_module.split_cases(summary, cfg.data.val_fraction, cfg.train.seed)
    return train, val, "validating on the training cases (optimistic)" if val == train else ""


def cmd_plan(args: argparse.Namespace) -> int:
    """Plan ``args.data`` and print it; write it to ``args.out`` when given."""
    from medunet.config import Config
    from medunet.data.check import check_dataset
    from medunet.data.labels import resolve_labels
    from medunet.data.loader import read_cases
    from medunet.device import resolve_device
    from medunet.training.planning import plan_run

    sets = [f"data.root={json.dumps(str(args.data))}"]
    flags = {"train.time_budget": args.time_budget, "train.device": args.device,
             "data.labels": args.labels, "data.snap_masks": False if args.no_snap_masks else None}
    sets += [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    cfg = Config().override(sets + list(args.set or []))
    summary = check_dataset(cfg.data.root, resolve_labels(cfg.data.root, cfg.data.labels, None),
                            snap_masks=cfg.data.snap_masks)
    if summary.labels is None:  # check_dataset raises first; this keeps the type checker honest
        raise ValueError(f"{cfg.data.root}: no label set")
    train, val, note = _split(summary, cfg)
    plan = plan_run(cfg, summary.labels, read_cases(train), None, resolve_device(cfg.train.device),
                    n_val=len(val))
    print(plan_summary(plan, n_train=len(train), n_val=len(val), note=note))
    if args.out:
        doc = {**plan.to_dict(), "labels": summary.labels.to_dict()}
        Path(args.out).write_text(json.dumps(doc, indent=2))
        print(f"wrote {args.out}; train with it: medunet train {args.data} --plan {args.out} --out RUN")
    return 0
