"""Errors that the CLI turns into one-line messages and distinct exit codes.

Kept free of heavy imports (no torch) so that ``medunet.cli`` can catch them cheaply.
"""

from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """Training met too many non-finite (NaN/Inf) losses in a row and stopped.

    The run folder keeps the last good checkpoint; the message says which and what to try.
    The CLI exits with code 3.
    """


class DeviceMemoryError(ValueError):
    """The device ran out of memory; the message names the settings to try instead (exit code 2)."""
