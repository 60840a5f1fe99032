"""Training and validation cases from a checked dataset."""

from __future__ import annotations

import logging

import numpy as np

from medunet.data.cases import Case
from medunet.data.check import DatasetSummary

log = logging.getLogger(__name__)


def split_cases(summary: DatasetSummary, val_fraction: float, seed: int
                ) -> tuple[list[Case], list[Case]]:
    """Training and validation cases: the ``val`` split, or a seeded share of ``train``/``all``.

    The ``val`` split is a medunet dataset's ``val/`` folder, or fold 0 of an nnU-Net dataset's
    ``splits_final.json``.

    A single training case (one volume, say) cannot be split: it is then also the validation
    case, which makes validation optimistic; a warning says so and ``plan.json`` records it.
    """
    pool = summary.cases.get("train") or summary.cases.get("all") or []
    if not pool:
        raise ValueError(f"{summary.root}: no training cases (expected train/images and train/masks, "
                         "images/ and masks/, or an nnU-Net/Decathlon imagesTr/ and labelsTr/)")
    if summary.cases.get("val"):
        return list(pool), list(summary.cases["val"])
    order = np.random.default_rng(seed).permutation(len(pool))
    n_val = max(1, int(round(val_fraction * len(pool))))
    if len(pool) == 1:
        log.warning("%s: only one training case and no val split: validating on the training case "
                    "(optimistic; add a val/ split for honest model selection)", summary.root)
        return list(pool), list(pool)
    val_idx = set(order[:n_val].tolist())
    log.info("no val split: holding out %d of %d training cases (seed %d)", n_val, len(pool), seed)
    return ([c for i, c in enumerate(pool) if i not in val_idx],
            [c for i, c in enumerate(pool) if i in val_idx])
