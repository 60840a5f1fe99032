"""End of a run: curves, the validation report with the best model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from medunet.config import Config
from medunet.data.cases import Case
from medunet.data.loader import LoadedCase
from medunet.engine.checkpoint import load_checkpoint
from medunet.io import read_image
from medunet.models import UNet
from medunet.plan import Plan

log = logging.getLogger(__name__)


def finalize_run(run_dir: Path, cfg: Config, plan: Plan, val_cases: Sequence[Case],
                 val_data: Sequence[LoadedCase], names: Sequence[str], device: torch.device,
                 rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``curves.png`` and ``report.html`` (+ metrics) for the best model on the validation set."""
    from medunet.engine.evaluate import write_evaluation
    from medunet.engine.train import validate
    from medunet.report.figures import curves_figure

    (run_dir / "curves.png").write_bytes(curves_figure(rows))
    model = UNet(plan.network).to(device)
    model.load_state_dict(load_checkpoint(run_dir / "best.pt", map_location=device)["model"])
    ev, preds = validate(model, val_data, plan, names, device)
    ev.loader = lambda i: (read_image(val_cases[i].image)[0], val_data[i].mask, preds[i])
    write_evaluation(ev, run_dir, title=f"medunet validation report — {run_dir.name}",
                     extra_figures={"Training curves": (run_dir / "curves.png").read_bytes()})
    return ev.to_dict()
