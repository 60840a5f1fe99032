"""The device a plan is sized for: its kind, name, memory, and how long a training step takes.

Torch is imported only to describe a real device or to time a real step, so tests inject a
profile with a fake timer and plan deterministically.

>>> p = DeviceProfile("cuda", "test GPU", 80 * 10**9, timer=lambda c: 0.01)
>>> p.accelerated, p.step_seconds(None)
(True, 0.01)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from medunet.planning.ladder import Candidate


@dataclass(frozen=True)
class DeviceProfile:
    """A training device as the planner sees it.

    Parameters
    ----------
    kind : {"cpu", "cuda", "mps"}
    name : str
        Human-readable description (model name, cores).
    memory_bytes : int
        Memory a training step may use (GPU memory; main memory on the CPU).
    timer : callable, optional
        ``timer(candidate) -> seconds per training step``; default: time real steps on
        ``device`` (:func:`medunet.planning.calibrate.time_training_step`).
    device : str
        The torch device the default timer runs on (``"cpu"``, ``"cuda:0"``).
    """

    kind: str
    name: str
    memory_bytes: int
    timer: Callable[[Any], float] | None = None
    device: str = "cpu"

    @property
    def accelerated(self) -> bool:
        """A GPU (CUDA or MPS), not the CPU."""
        return self.kind != "cpu"

    def step_seconds(self, candidate: Candidate) -> float:
        """Seconds of one training step of ``candidate`` on this device."""
        if self.timer is not None:
            return float(self.timer(candidate))
        # torch (and the network) are loaded only to time real steps
        from medunet.planning.calibrate import time_training_step

        return time_training_step(candidate, self.device)

    def describe(self) -> dict[str, Any]:
        """Plain data for ``plan.calibration["device"]``."""
        return {"kind": self.kind, "name": self.name, "memory_gib": round(self.memory_bytes / 2**30, 1)}


def _host_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX
        return 8 * 2**30


def profile_for(device: torch.device) -> DeviceProfile:
    """The profile of a real torch ``device`` (memory from the driver, or main memory)."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return DeviceProfile("cuda", props.name, int(props.total_memory), device=f"cuda:{index}")
    if device.type == "mps":
        return DeviceProfile("mps", "Apple MPS", _host_memory(), device="mps")
    threads = torch.get_num_threads()
    return DeviceProfile("cpu", f"CPU ({os.cpu_count()} cores, {threads} threads)", _host_memory())
