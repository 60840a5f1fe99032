"""The folder of a cross-validation run (``medunet train --folds K``), torch-free.

``RUN/folds.json`` says the run is one (how many folds, which cases each validates on, the
cross-validation estimate) and ``RUN/fold_<k>/`` is a complete ordinary run folder per fold.
Prediction (the fold ensemble), export and training read the layout from here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FOLDS_FILE = "folds.json"

__all__ = ["FOLDS_FILE", "fold_dir", "fold_dirs", "read_folds", "refuse_folds_run"]


def fold_dir(run: str | os.PathLike[str], k: int) -> Path:
    """The run folder of fold ``k`` (0-based) of a cross-validation run."""
    return Path(run) / f"fold_{k}"


def read_folds(run: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``RUN/folds.json`` as plain data, or ``None`` when ``run`` is not a cross-validation run.

    Raises
    ------
    ValueError
        ``folds.json`` is not valid JSON or lacks its ``folds`` count.
    """
    path = Path(run) / FOLDS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); retrain with --overwrite") from exc
    if not isinstance(data, dict) or not isinstance(data.get("folds"), int):
        raise ValueError(f"{path}: no 'folds' count; not written by medunet train --folds")
    return data


def fold_dirs(run: str | os.PathLike[str]) -> list[Path] | None:
    """The fold run folders of a cross-validation run, in fold order, or ``None`` for any other path."""
    p = Path(run)
    if not p.is_dir():
        return None
    data = read_folds(p)
    return None if data is None else [fold_dir(p, k) for k in range(data["folds"])]


def refuse_folds_run(run: str | os.PathLike[str], what: str = "export") -> None:
    """Raise when ``run`` is a cross-validation run (``what`` takes one model).

    Raises
    ------
    ValueError
        Naming the fold folder to use instead.
    """
    dirs = fold_dirs(run)
    if dirs:
        raise ValueError(f"{run}: a {len(dirs)}-fold cross-validation run (an ensemble of {len(dirs)} "
                         f"models); {what} takes one model: {what} one fold, e.g. {dirs[0]}")
