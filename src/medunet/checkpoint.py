"""Checkpoints as plain data: atomic writes, ``weights_only`` loads, nothing pickled."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from medunet.io.atomic import atomic_path

FORMAT = "medunet-checkpoint"
VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    A crash or a full disk mid-write leaves the previous file intact.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, fh)
            fh.flush()
            os.fsync(fh.fileno())  # on disk before the rename makes it the checkpoint
    except OSError as exc:
        if exc.filename is None:  # name the file (a full disk)
            raise OSError(exc.errno, f"cannot write checkpoint ({exc.strerror or exc})", str(p)) from exc
        raise
    return p


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Load a medunet checkpoint with ``torch.load(weights_only=True)``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a medunet checkpoint, corrupt, or carrying anything but plain data
        (a pickle payload is refused, never executed).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise ValueError(f"{p}: refused to load checkpoint (corrupt: {_first_line(exc)})") from exc
        # torch's own text suggests weights_only=False, exactly what must not be done here
        found = [ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln or "global" in ln]
        raise ValueError(
            f"{p}: refused to load checkpoint (not plain data: it holds pickled Python objects"
            f"{': ' + found[0] if found else ''}); only checkpoints written by medunet load, "
            "and nothing in a checkpoint is ever run"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{p}: refused to load checkpoint (corrupt or truncated: {_first_line(exc)}); "
                         "copy it again or retrain") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{p}: not a medunet checkpoint")
    if int(data.get("version", 0)) > VERSION:
        raise ValueError(f"{p}: checkpoint version {data['version']} is newer than this medunet; upgrade")
    return data


def checkpoint_file(run: str | os.PathLike[str], checkpoint: str = "best") -> Path:
    """The checkpoint a run path names: ``RUN_DIR/<checkpoint>.pt``, or a ``.pt`` file itself.

    Raises
    ------
    FileNotFoundError
        ``run`` is neither a ``.pt`` path nor an existing folder.
    """
    p = Path(run)
    if p.suffix == ".pt":
        return p
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: run folder not found")
    return p / f"{checkpoint}.pt"
