"""End of a run: curves, the choices made on validation, the validation report, the model card.

The choices (:mod:`medunet.training.selection`) are recorded in ``RUN/postprocessing.json``:
``model_selection`` (the best-epoch rule, the curve and the chosen epoch) and the
post-processing: ``status`` ``"chosen"`` (the rule, the Dice of argmax and of the final
choice, every step tried with its Dice before and after, and ``postprocessing``, which
``best.pt`` then carries), ``"skipped"`` (optimistic validation, or no foreground in the
validation references; with the ``reason``) or ``"off"`` (``train.postprocess=false``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from medunet.checkpoint import load_checkpoint, save_checkpoint
from medunet.data.check import DatasetSummary
from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.writing import write_evaluation
from medunet.inference.postprocess import KEY as POSTPROCESSING
from medunet.io.atomic import atomic_path, atomic_write_text
from medunet.models.factory import model_for
from medunet.report.extras import ReportExtras
from medunet.report.figures import curves_figure
from medunet.training.model_card import data_facts, write_model_card
from medunet.training.run_dir import write_json
from medunet.training.selection import (
    choose_postprocessing,
    describe,
    model_selection,
    smallest_lesions,
)
from medunet.training.setup import Run
from medunet.training.state import StopReason
from medunet.training.validation import validate, validation_probs

log = logging.getLogger(__name__)


def _split_facts(run: Run) -> tuple[bool, str]:
    """``validation_optimistic`` and ``validation_note`` of the run's ``plan.json``."""
    try:
        doc = json.loads((run.run_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False, ""
    return bool(doc.get("validation_optimistic", False)), str(doc.get("validation_note", ""))


def _store(run: Run, post: dict[str, Any] | None) -> None:
    """Put ``post`` into ``best.pt`` (``None``: take a stale one out), re-saved atomically."""
    path = run.run_dir / "best.pt"
    ckpt = load_checkpoint(path)
    if ckpt.get(POSTPROCESSING) == post:
        return
    ckpt.pop(POSTPROCESSING, None)
    if post is not None:
        ckpt[POSTPROCESSING] = post
    save_checkpoint(ckpt, path)


def choose_on_validation(run: Run, model: Any, optimistic: bool, note: str) -> dict[str, Any]:
    """Choose the post-processing on the validation cases with the best model (or say why
    not), store it in ``best.pt`` and return the ``postprocessing.json`` record."""
    if not run.cfg.train.postprocess:
        record: dict[str, Any] = {"status": "off", "reason": "train.postprocess is false."}
    elif optimistic:
        record = {"status": "skipped", "reason": f"{note}. Choosing a threshold or component "
                  "filter on such validation would fit the training volumes, so none is applied."}
    elif not any(c.mask.any() for c in run.val_data):
        record = {"status": "skipped", "reason": "no validation case has foreground."}
    else:
        with run.memory("validation"):
            probs = validation_probs(model, run.val_data, run.plan, run.device)
        # slices of volumes for 2D-on-slices plans: their components are no larger than the
        # 3D lesions', so the cap errs on the side of keeping components
        limits = smallest_lesions([c.mask for c in run.sampler.cases], run.plan.network.num_classes)
        choice = choose_postprocessing(probs, [c.mask for c in run.val_data], run.plan.spacing, limits)
        record = {"status": "chosen", "cases": len(probs), **choice.to_dict(run.names),
                  "size_limits": {run.names[c]: n for c, n in limits.items()},
                  "description": describe(choice.post.to_dict(), run.names)}
    _store(run, record.get("postprocessing"))
    log.info("post-processing %s: %s", record["status"], record.get("description", record.get("reason")))
    return record


def _card_section(record: dict[str, Any], optimistic: bool, note: str) -> str:
    """The model card's lines on validation, model selection and post-processing."""
    sel = record["model_selection"]
    lines = ["", "## Validation, model selection and post-processing", ""]
    if optimistic:
        lines.append(f"- **Validation is optimistic**: {note}.")
    lines.append(f"- Best checkpoint: epoch {sel['epoch']} ({sel['rule']}; moving average peaks "
                 f"at epoch {sel['ema_epoch']}).")
    if record["status"] == "chosen":
        lines.append(f"- Post-processing (applied by `medunet predict`): {record['description']}; "
                     f"mean pooled validation Dice {record['mean_argmax']:.4f} (argmax) -> "
                     f"{record['mean_final']:.4f}; {record['rule']}. See `postprocessing.json`.")
        lines.append("- The validation metrics above are of argmax masks; the post-processing was "
                     "chosen on the same cases, so its gain there is optimistic: test it on held-out data.")
    else:
        lines.append(f"- Post-processing {record['status']}: {record['reason']} Masks are argmax.")
    return "\n".join(lines) + "\n"


def finish_run(run: Run, summary: DatasetSummary, stopped: StopReason) -> Evaluation:
    """Write ``curves.png``, ``postprocessing.json``, ``model_card.md`` and ``report.html``
    (+ metrics: the best model on the validation set, with the curves, the model selection,
    the post-processing chosen on validation, the plan and the model card); returns that
    validation (argmax labels, without TTA: the evaluation of every epoch).

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
    optimistic, note = _split_facts(run)
    record = {"model_selection": model_selection(rows, run.state.best_epoch, optimistic),
              "validation_optimistic": optimistic, "validation_note": note,
              **choose_on_validation(run, model, optimistic, note)}
    write_json(run_dir / "postprocessing.json", record)
    ev, preds = validate(model, val_data, run.plan, run.names, run.device, report=True)
    facts = data_facts(run.cfg, {"train": run.n_train, "validation": len(run.val_cases)},
                       [c.mask for c in val_data], summary, run.plan.network.in_channels)
    card = write_model_card(run_dir, run.cfg, run.plan, facts, rows, ev.document(), names=run.names,
                            device=run.device, n_params=sum(p.numel() for p in model.parameters()),
                            stopped=stopped)
    atomic_write_text(card, card.read_text(encoding="utf-8") + _card_section(record, optimistic, note))
    extras = ReportExtras(figures={"Training curves": (run_dir / "curves.png").read_bytes()},
                          plan=run.plan.to_dict(), model_card=card.read_text(encoding="utf-8"),
                          notes=(note,) if optimistic else (), selection=record)
    # the gallery shows the images the model saw (resampled, normalised), already in memory
    write_evaluation(ev, run_dir, loader=lambda i: (val_data[i].image, val_data[i].mask, preds[i]),
                     title=f"medunet validation report — {run_dir.name}", extras=extras)
    return ev
