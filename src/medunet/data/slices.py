"""2.5D context: a slice of a volume with its neighbouring slices as extra channels.

The one function :func:`stack_context` serves training (:func:`medunet.data.loader.to_slices`)
and inference (:func:`medunet.inference.probs.infer_members`), on NumPy arrays and torch tensors
alike, so both stack the slices in the same order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def context_indices(z: int, depth: int, k: int) -> list[int]:
    """Slices ``z - k .. z + k`` of a volume of ``depth`` slices; outside it, the nearest edge slice.

    Examples
    --------
    >>> context_indices(0, 5, 2)
    [0, 0, 0, 1, 2]
    """
    return [min(max(z + d, 0), depth - 1) for d in range(-k, k + 1)]


def stack_context(volume: Array, z: int, k: int) -> Array:
    """Slice ``z`` of ``volume`` ``(C, Z, *plane)`` with ``k`` slices on each side: ``(C * (2k + 1), *plane)``.

    Channel order: per image channel, slices ``z - k .. z + k`` (channel ``c * (2k + 1) + j`` is
    image channel ``c`` at slice ``z - k + j``); edge slices repeat the nearest slice that exists.
    ``k = 0`` is the plain slice ``volume[:, z]`` (a view, no copy).
    """
    if k == 0:
        return volume[:, z]
    stacked = volume[:, context_indices(z, volume.shape[1], k)]
    return stacked.reshape(-1, *stacked.shape[2:])
