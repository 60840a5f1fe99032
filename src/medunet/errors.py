"""Errors that the CLI turns into one-line messages and distinct exit codes.

Kept free of heavy imports (no torch, no NumPy, no image libraries) so that ``medunet.cli``
can catch them without slowing down ``medunet --help``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """A problem with one file: where, and what was expected."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DatasetError(ValueError):
    """Raised with every problem found, one line each (the CLI prints one ``error:`` line per
    problem and exits with code 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TrainingDiverged(RuntimeError):
    """Training met too many non-finite (NaN/Inf) losses in a row and stopped.

    The run folder keeps the last good checkpoint; the message says which and what to try.
    The CLI exits with code 3.
    """


class DeviceMemoryError(ValueError):
    """The device ran out of memory; the message names the settings to try instead (exit code 2)."""


EXIT_OK = 0
#: bad input, bad options, or an environment that cannot hold the job (out of memory, full disk)
EXIT_BAD_INPUT = 2
#: training stopped on non-finite losses; the run folder keeps the last good checkpoint
EXIT_DIVERGED = 3
#: Ctrl-C / SIGTERM: progress saved, resume possible (128 + SIGINT)
EXIT_INTERRUPTED = 130

#: what the CLI reports in one line each instead of a traceback; anything else is a bug
USER_ERRORS = (ValueError, OSError, ImportError, TrainingDiverged, KeyboardInterrupt)


def error_exit(exc: BaseException) -> tuple[int, list[str]]:
    """The CLI's exit code and stderr lines (one per problem) for one of :data:`USER_ERRORS`."""
    if isinstance(exc, DatasetError):
        return EXIT_BAD_INPUT, [f"error: {p}" for p in exc.problems]
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, ["interrupted"]
    if isinstance(exc, TrainingDiverged):
        return EXIT_DIVERGED, [f"error: {exc}"]
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | FileExistsError
                                                   | PermissionError):
        return EXIT_BAD_INPUT, [f"error: {_os_error(exc)}"]  # e.g. a full disk (atomic writes)
    return EXIT_BAD_INPUT, [f"error: {exc}"]


def _os_error(exc: OSError) -> str:
    """One line for an OS error: the file, then the reason (``[Errno 28] ...`` is noise)."""
    if exc.filename is None:
        return str(exc)
    hint = "; free some disk space and run again" if exc.errno == errno.ENOSPC else ""
    return f"{exc.filename}: {exc.strerror or exc}{hint}"
