"""Atomic file writes: a temporary file beside the target, renamed over it only when complete.

A crash, a full disk or Ctrl-C mid-write leaves the previous file intact and no temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_PREFIX = ".tmp-"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Examples
    --------
    >>> with atomic_path("out/a.npz") as tmp:        # doctest: +SKIP
    ...     np.savez_compressed(tmp, probabilities=p)
    """
    p = Path(path)
    tmp = p.with_name(f"{TMP_PREFIX}{p.name}")
    try:
        yield tmp
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
