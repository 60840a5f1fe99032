"""Ensembles for :class:`~medunet.inference.predictor.Predictor`: the folds of a cross-validation run.

A ``medunet train --folds K`` run (:mod:`medunet.fold_runs`) predicts with all K fold models:
every model sees every TTA flip and the softmax probabilities of all members are averaged
(:func:`~medunet.inference.probs.infer_members`), as nnU-Net ensembles its five folds. The
members must share one plan (patch, spacing, normalisation, network) and one label set, which a
folds run guarantees: it plans once for all folds. The ensemble's post-processing is the one
chosen on the pooled out-of-fold probabilities (``RUN/postprocessing.json``), not any fold's own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from medunet.checkpoint import checkpoint_file, load_checkpoint
from medunet.data.labels import LabelSet
from medunet.fold_runs import fold_dirs
from medunet.inference.postprocess import with_postprocessing
from medunet.plan import Plan

__all__ = ["Member", "ensemble_members", "fold_checkpoints", "load_ensemble"]

#: the run-level choice of a folds run (``status``, and ``postprocessing`` when chosen)
POSTPROCESSING_FILE = "postprocessing.json"


class Member(Protocol):
    """What an ensemble takes from each member (a single-model ``Predictor``)."""

    model: torch.nn.Module
    plan: Plan
    labels: LabelSet
    device: torch.device
    binary_255: bool


def fold_checkpoints(run: str | os.PathLike[str], checkpoint: str = "best"
                     ) -> list[dict[str, Any]] | None:
    """Every fold's loaded checkpoint of a cross-validation run, or ``None`` for any other path.

    Raises
    ------
    FileNotFoundError
        A fold has no such checkpoint yet (unfinished); the message says how to finish it.
    ValueError
        A checkpoint is corrupt or not plain data (see :func:`~medunet.checkpoint.load_checkpoint`).
    """
    dirs = fold_dirs(run)
    if dirs is None:
        return None
    out = []
    for d in dirs:
        path = checkpoint_file(d, checkpoint) if d.is_dir() else Path(d) / f"{checkpoint}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: this fold of the cross-validation run {run} is not "
                                    f"finished; finish it with medunet train DATA --out {run} --resume")
        out.append(load_checkpoint(path))
    return out


def ensemble_members(members: Sequence[Member]
                     ) -> tuple[list[torch.nn.Module], Plan, LabelSet, torch.device, bool]:
    """The ``Predictor`` arguments of an ensemble: all members' models and the first's plan,
    labels, device and 0/255 flag.

    Raises
    ------
    ValueError
        No members, or a member's plan or label set differs from the first's.
    """
    if not members:
        raise ValueError("an ensemble needs at least one model")
    first = members[0]
    for i, m in enumerate(members[1:], start=1):
        if m.plan != first.plan or m.labels != first.labels:
            raise ValueError(f"ensemble member {i} has another plan or label set than member 0; only "
                             "the models of one run (the folds of one --folds run) can be ensembled")
    return [m.model for m in members], first.plan, first.labels, first.device, first.binary_255



def load_ensemble(cls: Any, run: str | os.PathLike[str], checkpoint: str = "best",
                  device: str = "auto") -> Any:
    """The ensemble ``cls`` (:class:`~medunet.inference.predictor.Predictor`) of a folds run,
    with the post-processing of ``RUN/postprocessing.json`` (argmax without one); ``None`` when
    ``run`` is not a folds run.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`fold_checkpoints` and :func:`ensemble_members`; ``postprocessing.json`` is
        not valid JSON.
    """
    folds = fold_checkpoints(run, checkpoint)
    if folds is None:
        return None
    ensemble = cls(*ensemble_members([cls.from_checkpoint(data, device) for data in folds]))
    path = Path(run) / POSTPROCESSING_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it to predict with argmax") from exc
    return with_postprocessing(ensemble, record)
