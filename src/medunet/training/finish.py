"""End of a run: curves, the validation report with the best model, the model card."""

from __future__ import annotations

import logging

from medunet.checkpoint import load_checkpoint
from medunet.data.check import DatasetSummary
from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.writing import write_evaluation
from medunet.io.atomic import atomic_path
from medunet.models.factory import model_for
from medunet.report.extras import ReportExtras
from medunet.report.figures import curves_figure
from medunet.training.model_card import data_facts, write_model_card
from medunet.training.setup import Run
from medunet.training.state import StopReason
from medunet.training.validation import validate

log = logging.getLogger(__name__)


def finish_run(run: Run, summary: DatasetSummary, stopped: StopReason) -> Evaluation:
    """Write ``curves.png``, ``model_card.md`` and ``report.html`` (+ metrics: the best model on
    the validation set, with the curves, the plan and the model card); returns that validation.

    Parameters
    ----------
    run : Run
        The run whose epochs are done (``best.pt`` written).
    summary : DatasetSummary
        The dataset check of :func:`~medunet.training.setup.setup_run` (for the model card).
    stopped : StopReason
        Why the epochs ended (for the model card).
    """
    run_dir, val_data, rows = run.run_dir, run.val_data, run.state.rows
    with atomic_path(run_dir / "curves.png") as tmp:
        tmp.write_bytes(curves_figure(rows))
    model = model_for(run.plan).to(run.device)
    model.load_state_dict(load_checkpoint(run_dir / "best.pt", map_location=run.device)["model"])
    ev, preds = validate(model, val_data, run.plan, run.names, run.device, report=True)
    facts = data_facts(run.cfg, {"train": run.n_train, "validation": len(run.val_cases)},
                       [c.mask for c in val_data], summary, run.plan.network.in_channels)
    card = write_model_card(run_dir, run.cfg, run.plan, facts, rows, ev.document(), names=run.names,
                            device=run.device, n_params=sum(p.numel() for p in model.parameters()),
                            stopped=stopped)
    extras = ReportExtras(figures={"Training curves": (run_dir / "curves.png").read_bytes()},
                          plan=run.plan.to_dict(), model_card=card.read_text(encoding="utf-8"))
    # the gallery shows the images the model saw (resampled, normalised), already in memory
    write_evaluation(ev, run_dir, loader=lambda i: (val_data[i].image, val_data[i].mask, preds[i]),
                     title=f"medunet validation report — {run_dir.name}", extras=extras)
    return ev
