"""Padding, tiling and sliding-window inference (pure functions over tensors)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, divisor: int, min_size: Sequence[int] = ()
                    ) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Pad the spatial axes of ``x (B, C, *S)`` symmetrically up to multiples of ``divisor``
    (and at least ``min_size``), by reflection where possible.

    Returns the padded tensor and the ``(before, after)`` pad per spatial axis, for :func:`crop`.
    """
    spatial = x.shape[2:]
    mins = list(min_size) or [0] * len(spatial)
    pads = []
    for s, m in zip(spatial, mins, strict=True):
        target = int(math.ceil(max(s, m) / divisor) * divisor)
        total = target - s
        pads.append((total // 2, total - total // 2))
    if not any(a or b for a, b in pads):
        return x, pads
    flat = [v for a, b in reversed(pads) for v in (a, b)]
    reflect_ok = all(a < s and b < s for (a, b), s in zip(pads, spatial, strict=True))
    mode = "reflect" if reflect_ok else "constant"
    return F.pad(x, flat, mode=mode), pads


def crop(x: torch.Tensor, pads: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on ``x (B, K, *S)``."""
    idx = [slice(None), slice(None)]
    for (a, b), s in zip(pads, x.shape[2:], strict=True):
        idx.append(slice(a, s - b))
    return x[tuple(idx)]


def tile_starts(size: int, tile: int, overlap: float) -> list[int]:
    """Start offsets covering ``size`` with tiles of ``tile`` overlapping by ``overlap``."""
    if size <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    n = int(math.ceil((size - tile) / step)) + 1
    return sorted({round(i * (size - tile) / (n - 1)) for i in range(n)})


def gaussian_weight(tile: Sequence[int], sigma_scale: float = 0.125) -> torch.Tensor:
    """Importance map ``(*tile)`` peaking at the centre (nnU-Net-style), minimum > 0."""
    axes = []
    for t in tile:
        c = (t - 1) / 2
        g = torch.exp(-0.5 * ((torch.arange(t) - c) / (t * sigma_scale)) ** 2)
        axes.append(g)
    w = axes[0]
    for g in axes[1:]:
        w = w.unsqueeze(-1) * g
    w = w / w.max()
    return w.clamp_min(1e-3)


def sliding_window(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: Sequence[int],
    num_classes: int,
    overlap: float = 0.5,
    batch_size: int = 4,
) -> torch.Tensor:
    """Blend ``fn`` over overlapping tiles of ``x (1, C, *S)`` with Gaussian weights.

    ``S`` must be at least ``tile`` per axis (pad first). Returns ``(1, K, *S)`` on ``x``'s device.
    """
    spatial = x.shape[2:]
    starts = [tile_starts(s, t, overlap) for s, t in zip(spatial, tile, strict=True)]
    weight = gaussian_weight(tile).to(x.device)
    out = torch.zeros((1, num_classes, *spatial), device=x.device)
    norm = torch.zeros(spatial, device=x.device)
    corners = list(itertools.product(*starts))
    for i in range(0, len(corners), batch_size):
        chunk = corners[i:i + batch_size]
        slices: list[tuple[slice, ...]] = [
            tuple(slice(c, c + t) for c, t in zip(corner, tile, strict=True)) for corner in chunk
        ]
        batch = torch.cat([x[(slice(None), slice(None), *sl)] for sl in slices])
        logits = fn(batch).float()
        for j, sl in enumerate(slices):
            out[0][(slice(None), *sl)] += logits[j] * weight
            norm[sl] += weight
    return out.div_(norm)
