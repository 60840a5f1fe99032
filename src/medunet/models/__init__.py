"""Network definitions: the architecture as plain data (torch-free) and the U-Net module.

``UNet`` is imported on first use (PEP 562), so ``medunet.config`` can use the architecture
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medunet.models.architecture import ModelConfig, UNetConfig

__all__ = ["ModelConfig", "UNet", "UNetConfig"]


def __getattr__(name: str) -> Any:
    if name != "UNet":
        raise AttributeError(f"module 'medunet.models' has no attribute {name!r}")
    # torch is imported only when the network itself is needed
    value = importlib.import_module("medunet.models.unet").UNet
    globals()[name] = value  # later lookups skip this function
    return value


if TYPE_CHECKING:  # the type checker sees the real name
    from medunet.models.unet import UNet
