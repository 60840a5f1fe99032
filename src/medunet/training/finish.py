"""End of a run: curves, the validation report with the best model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from medunet.checkpoint import load_checkpoint
from medunet.config import Config
from medunet.data.cases import Case
from medunet.data.check import DatasetSummary
from medunet.data.loader import LoadedCase
from medunet.io.atomic import atomic_path
from medunet.models import UNet
from medunet.plan import Plan
from medunet.training.model_card import data_facts, write_model_card

log = logging.getLogger(__name__)


def finish_run(run_dir: Path, cfg: Config, plan: Plan, val_cases: Sequence[Case],
                 val_data: Sequence[LoadedCase], names: Sequence[str], device: torch.device,
                 rows: list[dict[str, Any]], *, summary: DatasetSummary, stopped: str,
                 n_train: int) -> dict[str, Any]:
    """Write ``curves.png``, ``report.html`` (+ metrics) for the best model on the validation set,
    and ``model_card.md``."""
    from medunet.evaluation.writing import write_evaluation
    from medunet.report.figures import curves_figure
    from medunet.training.validation import validate

    with atomic_path(run_dir / "curves.png") as tmp:
        tmp.write_bytes(curves_figure(rows))
    model = UNet(plan.network).to(device)
    model.load_state_dict(load_checkpoint(run_dir / "best.pt", map_location=device)["model"])
    ev, preds = validate(model, val_data, plan, names, device)
    # the gallery shows the images the model saw (resampled, normalised), already in memory
    ev.loader = lambda i: (val_data[i].image, val_data[i].mask, preds[i])
    write_evaluation(ev, run_dir, title=f"medunet validation report — {run_dir.name}",
                     extra_figures={"Training curves": (run_dir / "curves.png").read_bytes()})
    doc = ev.to_dict()
    facts = data_facts(cfg, {"train": n_train, "validation": len(val_cases)},
                       [c.mask for c in val_data], summary, plan.network.in_channels)
    write_model_card(run_dir, cfg, plan, facts, rows, doc, names=names, device=device,
                     n_params=sum(p.numel() for p in model.parameters()), stopped=stopped)
    return doc
