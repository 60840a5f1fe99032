"""The run folder: what a training run leaves behind, and the rules for reusing a folder."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RUN_FILES = ("best.pt", "last.pt", "config.json", "plan.json", "log.csv", "curves.png",
             "report.html", "metrics.json", "metrics.csv", "model_card.md")


def prepare_run_dir(path: Path, *, resume: bool, overwrite: bool) -> None:
    """Create ``path`` or check it may be reused.

    Raises
    ------
    FileExistsError
        It holds a run and neither ``resume`` nor ``overwrite`` was asked for.
    FileNotFoundError
        ``resume`` without a ``last.pt`` to resume from.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: exists and is a file; choose another --out")
    existing = [f for f in RUN_FILES if (path / f).exists()]
    if resume:
        if not (path / "last.pt").is_file():
            raise FileNotFoundError(f"{path / 'last.pt'}: nothing to resume; drop --resume to start a new run")
        return
    if existing and not overwrite:
        raise FileExistsError(f"{path}: already holds a run ({', '.join(existing)}); "
                              "use --resume to continue it or --overwrite to replace it")
    if overwrite:
        for f in existing:
            (path / f).unlink()
        shutil.rmtree(path / "val_predictions", ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write."""
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def write_log(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rewrite ``log.csv`` atomically from all rows so far (columns from the first row)."""
    if not rows:
        return
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
