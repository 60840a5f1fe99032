"""The run folder: what a training run leaves behind, and the rules for reusing a folder."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medunet.io.atomic import TMP_PREFIX, atomic_write_text
from medunet.training.state import LogRow

RUN_FILES = ("best.pt", "last.pt", "config.json", "plan.json", "log.csv", "curves.png",
             "report.html", "metrics.json", "metrics.csv", "model_card.md")


def check_run_dir(path: Path, *, resume: bool, overwrite: bool) -> list[str]:
    """Check that ``path`` may be used as a run folder, changing nothing; returns the run files there.

    Raises
    ------
    FileExistsError
        It is a file, or holds a run and neither ``resume`` nor ``overwrite`` was asked for.
    FileNotFoundError
        ``resume`` without a ``last.pt`` to resume from.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: exists and is a file; choose another --out")
    existing = [f for f in RUN_FILES if (path / f).exists()]
    if resume and not (path / "last.pt").is_file():
        raise FileNotFoundError(f"{path / 'last.pt'}: nothing to resume; drop --resume to start a new run")
    if existing and not (resume or overwrite):
        raise FileExistsError(f"{path}: already holds a run ({', '.join(existing)}); "
                              "use --resume to continue it or --overwrite to replace it")
    return existing


def prepare_run_dir(path: Path, *, resume: bool, overwrite: bool) -> None:
    """Create ``path`` or check it may be reused (see :func:`check_run_dir`); ``overwrite``
    deletes the previous run's files."""
    existing = check_run_dir(path, resume=resume, overwrite=overwrite)
    if path.is_dir():  # half-written files of a killed run (kill -9 mid-write); never complete
        for tmp in path.glob(f"{TMP_PREFIX}*"):
            if tmp.is_file():
                tmp.unlink()
    if resume:
        return
    if overwrite:
        for f in existing:
            (path / f).unlink()
        shutil.rmtree(path / "val_predictions", ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write."""
    atomic_write_text(path, json.dumps(data, indent=2))


def write_log(path: Path, rows: Sequence[LogRow]) -> None:
    """Rewrite ``log.csv`` atomically from all rows so far: one line per epoch, the columns of
    :meth:`LogRow.to_columns` (the union over the rows, in order)."""
    if not rows:
        return
    columns = [row.to_columns() for row in rows]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for c in columns for k in c)), restval="",
                       lineterminator="\n")
    w.writeheader()
    w.writerows(columns)
    atomic_write_text(path, buf.getvalue())


def read_log(path: Path) -> list[LogRow]:
    """The rows of a run's ``log.csv``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A row lacks a required column (see :meth:`LogRow.from_columns`).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log; is this a run folder written by medunet train?")
    with path.open(newline="") as fh:
        try:
            return [LogRow.from_columns(cols) for cols in csv.DictReader(fh)]
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
