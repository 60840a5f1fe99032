"""Device selection (CUDA, then MPS, then CPU; nothing assumes CUDA) and out-of-memory errors
turned into advice the user can act on."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import torch

from medunet.errors import DeviceMemoryError

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; an unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available here; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps: Apple MPS is not available here; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device must be auto, cpu, cuda or mps, got {name!r}")
    return torch.device(name)

#: smallest training patch side the configuration accepts (``DataConfig``)
MIN_PATCH = 8
#: substrings of the RuntimeErrors torch raises when an allocation fails (CUDA, MPS, CPU)
_OOM_TEXT = ("out of memory", "can't allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed device or host allocation."""
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OOM_TEXT)


def smaller_settings(batch_size: int, patch: Sequence[int], divisor: int) -> tuple[int, list[int]]:
    """Half the batch (at least 1) and half the patch per axis (a multiple of ``divisor``, >= 8)."""
    def half(p: int) -> int:
        h = max(MIN_PATCH, p // 2)
        return -(-h // divisor) * divisor

    return max(1, batch_size // 2), [half(int(p)) for p in patch]


def _release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


@contextmanager
def _advise_on_oom(device: torch.device, advice: Callable[[], str]) -> Iterator[None]:
    """Re-raise an out-of-memory error inside the block as :class:`DeviceMemoryError` (``advice()``)."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        _release(device)
        raise DeviceMemoryError(advice()) from exc


def training_memory(device: torch.device, batch_size: int, patch: Sequence[int], divisor: int,
                    stage: str) -> AbstractContextManager[None]:
    """Turn an out-of-memory error in ``stage`` into a :class:`DeviceMemoryError` with smaller settings."""
    def advice() -> str:
        batch, smaller = smaller_settings(batch_size, patch, divisor)
        flags = f"--batch-size {batch} " if batch < batch_size else ""
        flags += f"--set data.patch_size={json.dumps(smaller, separators=(',', ':'))}"  # one shell word
        return (f"out of memory on {device} during {stage} (batch {batch_size}, patch {list(patch)}); "
                f"start over with {flags} --overwrite, or train on a device with more memory")

    return _advise_on_oom(device, advice)


def inference_memory(device: torch.device, shape: Sequence[int]) -> AbstractContextManager[None]:
    """Turn an out-of-memory error while predicting an image of ``shape`` into advice."""
    def advice() -> str:
        size = "x".join(str(int(s)) for s in shape)
        hint = ("run on the CPU (--device cpu), which uses main memory" if device.type != "cpu"
                else "free memory or predict on a machine with more")
        return f"out of memory on {device} predicting an image of {size}; {hint}"

    return _advise_on_oom(device, advice)
