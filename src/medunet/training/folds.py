"""``medunet train --folds K``: K-fold cross-validation, one ordinary run folder per fold.

The run folder (see :mod:`medunet.fold_runs`)::

    RUN/config.json    the command's config (train.folds = K, the whole time budget)
    RUN/plan.json      the one plan every fold trains with (+ labels, the pool's cases and groups)
    RUN/folds.json     per fold: validation cases and groups, state, result and metrics; the
                       cross-validation estimate (pooled out-of-fold, fold mean and SD)
    RUN/report.html    (+ metrics.json, metrics.csv) the pooled out-of-fold predictions
    RUN/postprocessing.json  the ensemble's post-processing, chosen on the pooled out-of-fold
                       probabilities (``train.postprocess``); prediction with RUN applies it
    RUN/fold_<k>/      a complete run: config.json, plan.json, best.pt, last.pt, log.csv, report

The pool is the training cases plus the ``val/`` split; whole groups (:mod:`medunet.data.groups`)
go to one fold (:func:`medunet.data.folds.assign_folds`, seeded by ``train.seed``). As nnU-Net
does, the plan is made once, from the whole pool, and every fold trains with it; every fold uses
``train.seed``. ``train.time_budget`` is the whole command's: each fold gets ``budget / K`` (the
out-of-fold evaluation at the end comes on top). ``resume`` skips the folds ``folds.json`` records
as done and resumes the unfinished one from its ``last.pt``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medunet.config import Config
from medunet.data.cases import Case
from medunet.data.check import DatasetSummary, check_dataset
from medunet.data.folds import cross_validation_pool, fold_splits
from medunet.data.groups import case_group_map
from medunet.data.labels import resolve_labels
from medunet.data.loader import read_cases
from medunet.data.split import Split
from medunet.device import resolve_device
from medunet.fold_runs import FOLDS_FILE, fold_dir, read_folds
from medunet.inference.ensemble import POSTPROCESSING_FILE
from medunet.plan import Plan
from medunet.training.planning import plan_run
from medunet.training.run_dir import RUN_FILES, prepare_run_dir, write_json
from medunet.training.single import train_single
from medunet.training.state import Callbacks, TrainResult

log = logging.getLogger(__name__)

__all__ = ["FoldsResult", "train_folds"]


@dataclass(frozen=True)
class FoldsResult(TrainResult):
    """A cross-validation run's result: ``run_dir`` is ``RUN``, ``best_metric`` the pooled
    out-of-fold foreground Dice, ``validation`` the pooled out-of-fold evaluation, ``epochs``
    and ``seconds`` summed over the folds (``best_epoch`` is -1: each fold has its own)."""

    #: each fold's own result (from ``folds.json`` for folds finished before a resume)
    folds: tuple[TrainResult, ...] = ()
    #: pooled foreground Dice of each fold's validation cases
    fold_dice: tuple[float, ...] = ()
    fold_mean: float = float("nan")
    #: sample standard deviation (n - 1) of ``fold_dice``
    fold_sd: float = float("nan")

    def headline(self) -> str:
        """The CLI's summary line."""
        return (f"{len(self.folds)}-fold cross-validation: out-of-fold foreground Dice "
                f"{self.best_metric:.4f} pooled, fold mean {self.fold_mean:.4f} (SD {self.fold_sd:.4f})")


def _fold_config(config: Config, run: Path, k: int) -> Config:
    """Fold ``k``'s config: its own folder, one split, ``budget / K`` minutes."""
    budget = config.train.time_budget
    train = replace(config.train, folds=1,
                    time_budget=None if budget is None else budget / config.train.folds)
    return replace(config, out=str(fold_dir(run, k)), train=train)


def _check_folds_dir(run: Path, *, resume: bool, overwrite: bool) -> None:
    """Check that ``run`` may hold this cross-validation run, changing nothing."""
    if run.exists() and not run.is_dir():
        raise FileExistsError(f"{run}: exists and is a file; choose another --out")
    if resume:
        if not (run / FOLDS_FILE).is_file():
            raise FileNotFoundError(f"{run / FOLDS_FILE}: no cross-validation run to resume; drop "
                                    "--resume to start one (or drop --folds to resume a single run)")
        return
    existing = [f for f in (*RUN_FILES, FOLDS_FILE) if (run / f).exists()]
    existing += sorted(p.name for p in run.glob("fold_*") if p.is_dir()) if run.is_dir() else []
    if existing and not overwrite:
        raise FileExistsError(f"{run}: already holds a run ({', '.join(existing)}); use --resume "
                              "to continue it or --overwrite to replace it")


def _groups(config: Config, summary: DatasetSummary, pool: list[Case]) -> tuple[dict[str, str], str]:
    """``{case id: group}`` of the pool and where it came from (:func:`case_group_map`)."""
    dataset_json = Path(summary.root) / "dataset.json"
    return case_group_map([c.case_id for c in pool], config.data.group_by,
                          dataset_json if dataset_json.is_file() else None)


def _folds_document(config: Config, splits: list[Split], source: str) -> dict[str, Any]:
    """``folds.json`` before any fold has trained."""
    return {"folds": len(splits), "seed": config.train.seed, "group_source": source,
            "cases": sum(len(s.val) for s in splits),
            "per_fold": [{"fold": k, "dir": fold_dir(Path("."), k).name,
                          "val_cases": [c.case_id for c in s.val], "val_groups": s.group_list(s.val),
                          "train_cases": len(s.train), "status": "pending"}
                         for k, s in enumerate(splits)],
            "cross_validation": None}


def _start(config: Config, run: Path, doc: dict[str, Any], *, resume: bool, overwrite: bool
           ) -> dict[str, Any]:
    """The folds document to continue with; on a fresh start (or ``overwrite``) the folder is
    emptied of earlier runs and ``folds.json`` written."""
    if resume:
        old = read_folds(run) or {}
        if [f.get("val_cases") for f in old.get("per_fold", [])] != [f["val_cases"] for f in doc["per_fold"]]:
            raise ValueError(f"{run / FOLDS_FILE}: its folds ({old.get('folds')}) differ from the "
                             f"ones --folds {config.train.folds} makes now (other data, seed or "
                             "grouping?); resume with the original settings or use --overwrite")
        return old
    prepare_run_dir(run, resume=False, overwrite=overwrite)
    for p in [run / FOLDS_FILE, run / POSTPROCESSING_FILE, *run.glob("fold_*")] if overwrite else []:
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    write_json(run / FOLDS_FILE, doc)
    return doc


def _shared_plan(config: Config, summary: DatasetSummary, pool: list[Case], run: Path,
                 resume: bool) -> Plan:
    """The plan of every fold: from the whole pool (fold 0's config: ``budget / K``), or the
    started run's ``RUN/plan.json`` when resuming."""
    if resume and (run / "plan.json").is_file():
        return Plan.from_dict(json.loads((run / "plan.json").read_text(encoding="utf-8")))
    if summary.labels is None:  # check_dataset raises first; this keeps the type checker honest
        raise ValueError(f"{summary.root}: no label set")
    device = resolve_device(config.train.device)
    return plan_run(_fold_config(config, run, 0), summary.labels, read_cases(pool), None, device)


def _fold_result(run: Path, entry: dict[str, Any]) -> TrainResult:
    """A finished fold's result as ``folds.json`` recorded it."""
    r = entry["result"]
    return TrainResult(fold_dir(run, entry["fold"]), int(r["epochs"]), int(r["best_epoch"]),
                       float(r["best_metric"]), float(r["seconds"]), r["stopped"],
                       skipped_steps=int(r.get("skipped_steps", 0)))


def _record(run: Path, doc: dict[str, Any], k: int, result: TrainResult) -> None:
    """Mark fold ``k`` done in ``folds.json`` with its result."""
    doc["per_fold"][k].update(status="done", result={
        "epochs": result.epochs, "best_epoch": result.best_epoch, "best_metric": result.best_metric,
        "seconds": round(result.seconds, 3), "stopped": result.stopped,
        "skipped_steps": result.skipped_steps})
    write_json(run / FOLDS_FILE, doc)


def _splits(config: Config, pool: list[Case], groups: dict[str, str], source: str) -> list[Split]:
    """Per fold its :class:`Split`: validation on the fold's whole groups, training on the rest."""
    k = config.train.folds
    out = []
    for i, (train, val) in enumerate(fold_splits(pool, k, config.train.seed, groups)):
        n_groups = len({groups.get(c.case_id, c.case_id) for c in val})
        out.append(Split(train, val, groups, False, f"fold {i} of {k}: validation holds out {n_groups} "
                         f"group(s), {len(val)} of {len(pool)} cases (groups from {source})", source))
    return out


def _write_run_files(run: Path, config: Config, plan: Plan, summary: DatasetSummary,
                     pool: list[Case], groups: dict[str, str], source: str) -> None:
    """``RUN/config.json`` and ``RUN/plan.json`` (the shared plan, labels, pool and groups)."""
    labels = summary.labels.to_dict() if summary.labels is not None else {}
    write_json(run / "config.json", config.to_dict())
    write_json(run / "plan.json", {**plan.to_dict(), "labels": labels, "folds": config.train.folds,
                                   "pool_cases": [c.case_id for c in pool], "groups": groups,
                                   "group_source": source})


def _train_fold(config: Config, run: Path, k: int, split: Split, plan: Plan, *, resume: bool,
                callbacks: Callbacks | None) -> TrainResult:
    """Train (or resume) fold ``k`` in ``RUN/fold_<k>``; a fold without ``last.pt`` starts afresh."""
    resume_k = resume and (fold_dir(run, k) / "last.pt").is_file()
    log.info("fold %d of %d: %s %d training and %d validation cases", k, config.train.folds,
             "resuming;" if resume_k else "training on", len(split.train), len(split.val))
    return train_single(_fold_config(config, run, k), resume=resume_k, overwrite=not resume_k,
                        callbacks=callbacks, split=split, plan=plan)


def train_folds(config: Config, *, resume: bool = False, overwrite: bool = False,
                callbacks: Callbacks | None = None,
                groups: dict[str, str] | None = None) -> FoldsResult:
    """K-fold cross-validation (``config.train.folds = K >= 2``) into ``config.out`` (see the
    module docstring for the folder, the plan, the time budget and resuming).

    Parameters
    ----------
    config : Config
    resume, overwrite, callbacks
        As for :func:`medunet.training.train`.
    groups : dict of str to str, optional
        ``{case id: group}`` for the pool; default: :func:`medunet.data.groups.case_group_map`
        (``data.group_by``, ``dataset.json`` groups, slice names).

    Returns
    -------
    FoldsResult
        ``stopped == "interrupted"`` when a fold was interrupted (resume continues it).

    Raises
    ------
    ValueError
        Fewer groups than folds (naming ``--folds`` and the group count), or ``resume`` with
        folds other than the run's; all checked before anything is written.
    FileExistsError, FileNotFoundError, DatasetError
        As for a single run.
    """
    run = Path(config.out)
    summary = check_dataset(config.data.root,
                            resolve_labels(config.data.root, config.data.labels, config.data.label_names),
                            snap_masks=config.data.snap_masks)
    _check_folds_dir(run, resume=resume, overwrite=overwrite)
    pool = cross_validation_pool(summary)
    mapping, source = (dict(groups), "argument") if groups is not None else _groups(config, summary, pool)
    splits = _splits(config, pool, mapping, source)
    plan = _shared_plan(config, summary, pool, run, resume)
    doc = _start(config, run, _folds_document(config, splits, source), resume=resume, overwrite=overwrite)
    if not resume:
        _write_run_files(run, config, plan, summary, pool, mapping, source)
    results: list[TrainResult] = []
    for k, split in enumerate(splits):
        entry = doc["per_fold"][k]
        if entry.get("status") == "done" and (fold_dir(run, k) / "best.pt").is_file():
            log.info("fold %d of %d: finished earlier, skipped", k, config.train.folds)
            results.append(_fold_result(run, entry))
            continue
        result = _train_fold(config, run, k, split, plan, resume=resume, callbacks=callbacks)
        results.append(result)
        if result.stopped == "interrupted":
            return _folds_result(run, results, "interrupted")
        _record(run, doc, k, result)
    return _finish(config, run, doc, splits, plan, summary, mapping, results)


def _folds_result(run: Path, results: list[TrainResult], stopped: Any, cv: Any = None) -> FoldsResult:
    """The run's :class:`FoldsResult` (``cv``: its :class:`CrossValidation`, None when interrupted)."""
    common = {"run_dir": run, "epochs": sum(r.epochs for r in results), "best_epoch": -1,
              "seconds": sum(r.seconds for r in results), "stopped": stopped,
              "skipped_steps": sum(r.skipped_steps for r in results), "folds": tuple(results)}
    if cv is None:
        return FoldsResult(best_metric=float("nan"), **common)
    return FoldsResult(best_metric=cv.pooled.document().pooled.foreground_dice, validation=cv.pooled,
                       fold_dice=cv.fold_dice, fold_mean=cv.fold_mean, fold_sd=cv.fold_sd, **common)


def _finish(config: Config, run: Path, doc: dict[str, Any], splits: list[Split], plan: Plan,
            summary: DatasetSummary, groups: dict[str, str], results: list[TrainResult]) -> FoldsResult:
    """Out-of-fold predictions of every fold, the cross-validation estimate in ``folds.json``
    and the run-level report."""
    # the report (matplotlib) loads only when a run gets that far
    from medunet.training.cross_validation import (
        cross_validate,
        cross_validation_document,
        pooled_postprocessing,
        write_cross_validation,
    )

    if summary.labels is None:  # check_dataset raises first; this keeps the type checker honest
        raise ValueError(f"{summary.root}: no label set")
    post = config.train.postprocess
    cv, data, preds, probs = cross_validate([(fold_dir(run, k), s.val) for k, s in enumerate(splits)],
                                            plan, summary.labels, resolve_device(config.train.device),
                                            config.train.seed, groups, probs=post)
    record = pooled_postprocessing(post, probs, data, plan, summary.labels.names)
    del probs
    write_json(run / POSTPROCESSING_FILE, record)
    entry = cross_validation_document(cv)
    for k, metrics in enumerate(entry.pop("folds")):
        doc["per_fold"][k]["metrics"] = metrics
    doc["cross_validation"] = entry
    doc["postprocessing"] = {k: record[k] for k in ("status", "description", "reason", "mean_argmax",
                                                    "mean_final") if k in record}
    curves = {f"Training curves, fold {k}": (fold_dir(run, k) / "curves.png").read_bytes()
              for k in range(len(splits)) if (fold_dir(run, k) / "curves.png").is_file()}
    write_cross_validation(cv, run, data, preds, plan, curves, record)
    write_json(run / FOLDS_FILE, doc)
    result = _folds_result(run, results, results[-1].stopped, cv)
    log.info("done: %s", result.headline())
    return result
