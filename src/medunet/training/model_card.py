"""``RUN_DIR/model_card.md``: what a trained model is, what it was trained on, how well it did,
and what it must not be used for."""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medunet.config import Config
from medunet.data.cases import DatasetError, discover_cases
from medunet.data.check import DatasetSummary
from medunet.evaluation.document import MetricsDocument
from medunet.io.atomic import atomic_write_text
from medunet.plan import Plan
from medunet.training.state import LogRow, StopReason, stop_message

log = logging.getLogger(__name__)

LIMITATIONS = """\
- **Research use only. Not a medical device; not for clinical use** — diagnosis, treatment
  planning or any decision about a patient.
- The numbers below come from the validation cases of this dataset only. They say nothing about
  other scanners, protocols, sites, populations or label conventions; expect lower quality there
  and evaluate on your own held-out data (`medunet evaluate RUN --data DATA --split test`).
- Most public datasets come from one or a few sites and are small: treat the dataset as
  single-site unless its documentation says otherwise, and mind its own licence and caveats.
- Validation cases also chose the best checkpoint, so the validation metrics are slightly
  optimistic; a test split that played no part in training is the honest estimate.
- Masks are predicted per pixel (per voxel) at the input's size; post-processing only as chosen
  on validation (section below, `postprocessing.json`)."""


@dataclass
class DataFacts:
    """The data section: splits with case counts; label pixel counts and image sizes over ``source``."""

    root: str
    splits: dict[str, int]
    used: dict[str, int]
    label_pixels: dict[int, int] = field(default_factory=dict)
    source: str = ""
    shapes: Counter[tuple[int, ...]] = field(default_factory=Counter)
    channels: int = 1


def data_facts(cfg: Config, used: Mapping[str, int], masks: Sequence[np.ndarray],
               summary: DatasetSummary | None = None, channels: int = 1) -> DataFacts:
    """Facts from the trainer's dataset summary, or (without one) from a listing of the dataset
    folder, the validation ``masks`` and the network's input ``channels``."""
    if summary is not None:
        return DataFacts(str(summary.root), {s: len(c) for s, c in summary.cases.items()}, dict(used),
                         dict(summary.label_pixels), "all splits", Counter(summary.shapes),
                         summary.num_channels)
    try:
        cases, _ = discover_cases(cfg.data.root)
        splits = {s: len(c) for s, c in cases.items()}
    except DatasetError:
        splits = {}
    counts: Counter[int] = Counter()
    for m in masks:
        counts.update({i: int(n) for i, n in enumerate(np.bincount(m.ravel()))})
    shapes = Counter(tuple(int(s) for s in m.shape) for m in masks)
    return DataFacts(str(cfg.data.root), splits, dict(used), dict(counts),
                     "validation cases", shapes, channels)


def infer_stop_reason(cfg: Config, rows: Sequence[LogRow]) -> StopReason | None:
    """Why training ended, from the log and the config (when the trainer did not say);
    None when neither tells."""
    if not rows:
        return None
    if len(rows) >= cfg.train.epochs:
        return "epochs_done"
    if cfg.train.time_budget and rows[-1].elapsed >= 60.0 * cfg.train.time_budget:
        return "time_budget"
    p = cfg.train.patience
    if p and len(rows) > p:
        best_before = max(r.val_dice_fg for r in rows[:-p])
        if all(r.val_dice_fg <= best_before for r in rows[-p:]):
            return "early_stopping"
    return None


def hardware(device: torch.device) -> str:
    """The accelerator (GPU name and memory) or the CPU model, with the CPU core count."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    cpus = f"{cpu}, {os.cpu_count()} logical cores"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"GPU {props.name} ({props.total_memory / 2**30:.0f} GiB); CPU {cpus}"
    if device.type == "mps":
        return f"Apple GPU (MPS); CPU {cpus}"
    return f"CPU {cpus}"


def _version() -> str:
    try:
        return metadata.version("medunet")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{float(v):.{digits}f}"


def _data_section(d: DataFacts, names: Sequence[str]) -> list[str]:
    lines = ["## Data", "", f"- Dataset: `{d.root}`"]
    if d.splits:
        lines.append("- Splits on disk: " + ", ".join(f"{s} {n} cases" for s, n in d.splits.items()))
    lines.append("- Used for training: " + ", ".join(f"{k} {n} cases" for k, n in d.used.items()))
    if d.shapes:
        sizes = ", ".join(f"{'x'.join(map(str, s))} ({n})" for s, n in d.shapes.most_common(6))
        more = f" and {len(d.shapes) - 6} more" if len(d.shapes) > 6 else ""
        lines.append(f"- Image sizes ({d.source}, with counts): {sizes}{more}; {d.channels} channel(s)")
    total = sum(d.label_pixels.values())
    lines += ["", f"| label | name | pixel share ({d.source or 'n/a'}) |", "|---|---|---|"]
    for i, name in enumerate(names):
        share = f"{100 * d.label_pixels.get(i, 0) / total:.2f} %" if total else "–"
        lines.append(f"| {i} | {name} | {share} |")
    return lines


def _plan_section(plan: Plan, n_params: int) -> list[str]:
    net = plan.network
    return ["## Plan", "",
            f"- Network: {net.spatial_dims}D U-Net, depth {net.depth}, widths {net.widths}, "
            f"{net.norm} norm, dropout {net.dropout}, {net.in_channels} input channel(s), "
            f"{net.num_classes} classes; {n_params:,} parameters",
            f"- Patch {'x'.join(map(str, plan.patch_size))} (input sizes are padded to multiples of "
            f"{net.divisor}), normalisation `{plan.normalization}`, median image shape "
            f"{'x'.join(map(str, plan.median_shape))}",
            "- Full plan: `plan.json`; configuration: `config.json`"]


def _training_section(cfg: Config, rows: Sequence[LogRow], stopped: StopReason | None,
                      device: torch.device) -> list[str]:
    seconds = rows[-1].elapsed if rows else 0.0
    best = max(rows, key=lambda r: r.val_dice_fg).epoch if rows else "–"
    return ["## Training", "",
            f"- Epochs run: {len(rows)} of at most {cfg.train.epochs}; "
            f"stopped: {stop_message(stopped, cfg.train.patience)}",
            f"- Best epoch: {best} (selected on pooled validation foreground Dice)",
            f"- Time: {seconds / 60:.1f} min ({seconds:.0f} s including validation"
            + (f"; budget {cfg.train.time_budget} min)" if cfg.train.time_budget else ")"),
            f"- Device: {device.type}; hardware: {hardware(device)}",
            f"- Software: medunet {_version()}, torch {torch.__version__}, "
            f"Python {platform.python_version()}, {platform.system()}",
            f"- Seed {cfg.train.seed}, peak learning rate {cfg.train.lr}, loss: soft Dice + cross-entropy"]


def _metrics_section(doc: MetricsDocument | None, names: Sequence[str]) -> list[str]:
    n_cases = len(doc.per_case) if doc is not None else 0
    lines = ["## Validation metrics", "",
             f"{n_cases} validation cases, best checkpoint. *Pooled*: over all pixels "
             "of all cases; *mean over cases*: the per-case Dice averaged (a case where the class "
             "is absent from both masks scores 1); *cases with the class*: the mean over cases whose "
             "reference contains it. See `metrics.json` and `report.html`.", "",
             "| class | pooled Dice | mean-case Dice ± std | cases with the class | pooled IoU |",
             "|---|---|---|---|---|"]
    pooled = doc.pooled if doc is not None else None
    mc = doc.mean_case if doc is not None else None
    for name in names[1:]:
        c = pooled.per_class.get(name) if pooled is not None else None
        d = mc.dice.get(name) if mc is not None else None
        p = mc.dice_present.get(name) if mc is not None else None
        lines.append(f"| {name} | {_fmt(c and c.dice)} | {_fmt(d and d.mean)} ± {_fmt(d and d.std)} | "
                     f"{_fmt(p and p.mean)} (n={p.n if p else 0}) | {_fmt(c and c.iou)} |")
    fg = mc.foreground_dice if mc is not None else None
    lines += ["", f"Foreground Dice: pooled {_fmt(pooled and pooled.foreground_dice)}, mean over cases "
                  f"{_fmt(fg and fg.mean)} ± {_fmt(fg and fg.std)}. Pixel accuracy "
                  f"{_fmt(pooled and pooled.accuracy)} (predicting background everywhere would score "
                  f"{_fmt(pooled and pooled.background_accuracy)})."]
    return lines


def render_model_card(run_name: str, cfg: Config, plan: Plan, facts: DataFacts,
                      rows: Sequence[LogRow], val: MetricsDocument | None, *, stopped: StopReason | None,
                      device: torch.device, n_params: int, names: Sequence[str]) -> str:
    """The model card as Markdown (see :func:`write_model_card`; ``stopped`` None: not known)."""
    head = [f"# Model card: {run_name}", "",
            f"A {plan.network.spatial_dims}D U-Net segmenting {', '.join(names[1:])} "
            f"({plan.network.num_classes} classes with background), trained with medunet {_version()} "
            f"on {time.strftime('%Y-%m-%d')}.", "",
            "## Intended use and limitations", "", LIMITATIONS]
    parts = [head, _data_section(facts, names), _plan_section(plan, n_params),
             _training_section(cfg, rows, stopped, device), _metrics_section(val, names)]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


def write_model_card(run_dir: Path, cfg: Config, plan: Plan, facts: DataFacts,
                     rows: Sequence[LogRow], val: MetricsDocument | None, *, names: Sequence[str],
                     device: torch.device, n_params: int, stopped: StopReason | None = None) -> Path:
    """Write ``run_dir/model_card.md`` atomically and return its path.

    Parameters
    ----------
    run_dir : Path
    cfg : Config
    plan : Plan
    facts : DataFacts
        See :func:`data_facts`.
    rows : sequence of LogRow
        The training log (``log.csv``; :meth:`LogRow.from_columns` reads its rows).
    val : MetricsDocument, optional
        The validation metrics of the best model (``None``: not known).
    names : sequence of str
        Class names, background first.
    device : torch.device
        Where training ran.
    n_params : int
        Parameter count of the network.
    stopped : StopReason, optional
        Why training ended (inferred from ``rows`` and ``cfg`` when not given).
    """
    text = render_model_card(run_dir.name, cfg, plan, facts, rows, val,
                             stopped=stopped or infer_stop_reason(cfg, rows), device=device,
                             n_params=n_params, names=names)
    path = run_dir / "model_card.md"
    atomic_write_text(path, text)
    return path
