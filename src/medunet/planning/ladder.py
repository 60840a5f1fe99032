"""The ladder of candidate networks, ordered by capacity, and their training memory.

Each rung has at least the width, patch and batch of the rung below, so a rung never trains
faster than the one below it: the planner can time them cheapest first and stop at the first
that misses the step target.

>>> c = Candidate(2, 16, 256, 5, (224, 192), 8, 1, 2)
>>> c.widths, round(training_memory_bytes(c) / 2**30, 2)
([16, 32, 64, 128, 256], 1.68)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medunet.models.architecture import ModelConfig

#: per dimensionality, rungs ``(base_width, max_width, patch share of the median image, batch,
#: max depth)``, smallest first; the top rungs are nnU-Net's 2d and 3d_fullres defaults
RUNGS: dict[int, list[tuple[int, int, float, int, int]]] = {
    2: [(8, 128, 0.25, 8, 5), (8, 128, 0.5, 8, 5), (16, 256, 0.5, 8, 5), (16, 256, 1.0, 8, 5),
        (32, 512, 1.0, 8, 8), (32, 512, 1.0, 12, 8)],
    3: [(8, 128, 0.25, 2, 5), (16, 256, 0.25, 2, 5), (16, 256, 0.5, 2, 5), (16, 256, 1.0, 2, 5),
        (32, 320, 1.0, 2, 6)],
}
#: largest training patch (pixels/voxels) per device kind and dimensionality
PATCH_LIMITS: dict[str, dict[int, int]] = {
    "cpu": {2: 256 * 256, 3: 32 * 128 * 128},
    "accelerator": {2: 1024 * 1024, 3: 128 ** 3},
}
MIN_BOTTLENECK = 4
MIN_SIDE = 16
#: memory model: stored forward tensors per level and pixel per channel (two conv -> norm ->
#: activation layers in the encoder; upsampling, concatenation and two more in the decoder)
TENSORS_PER_LEVEL = 12
#: the backward pass holds gradients of about a quarter of the stored activations at a time
BACKWARD_FACTOR = 1.25
#: safety factor over the estimate (allocator fragmentation, cuDNN workspaces, augmentation)
MEMORY_SAFETY = 1.5
#: bytes per parameter: weights, gradients and AdamW's two moments in fp32
PARAM_BYTES = 16
#: fixed overhead: CUDA context, libraries, the batch on the device
FIXED_BYTES = 768 * 2**20


@dataclass(frozen=True)
class Candidate:
    """One network and training batch the planner may choose."""

    spatial_dims: int
    base_width: int
    max_width: int
    depth: int
    patch: tuple[int, ...]
    batch: int
    in_channels: int = 1
    num_classes: int = 2
    norm: str = "batch"

    @property
    def widths(self) -> list[int]:
        """Channels per level, full resolution first."""
        return [min(self.base_width * 2**i, self.max_width) for i in range(self.depth)]

    def to_dict(self) -> dict[str, Any]:
        return {"base_width": self.base_width, "max_width": self.max_width, "depth": self.depth,
                "patch": list(self.patch), "batch": self.batch}


def training_memory_bytes(c: Candidate) -> int:
    """Estimated device memory of one training step of ``c`` (fp32, no mixed precision).

    ``4 bytes x batch x sum over levels (width x patch pixels / 2**(dims x level)) x
    TENSORS_PER_LEVEL x BACKWARD_FACTOR x MEMORY_SAFETY + PARAM_BYTES x parameters + FIXED_BYTES``,
    with ``9 x in x out`` (2D) or ``27 x in x out`` (3D) weights per convolution.
    """
    pixels = math.prod(c.patch)
    values = sum(w * pixels / 2 ** (c.spatial_dims * lvl) for lvl, w in enumerate(c.widths))
    activations = 4 * c.batch * values * TENSORS_PER_LEVEL * BACKWARD_FACTOR * MEMORY_SAFETY
    k = 3 ** c.spatial_dims
    widths = c.widths
    params = k * (c.in_channels * widths[0] + widths[0] ** 2)
    params += sum(k * (a * b + b * b) for a, b in zip(widths, widths[1:], strict=False))  # encoder
    params += sum(k * (2 * b * a + a * a) + a * b for a, b in zip(widths, widths[1:], strict=False))
    return int(activations + PARAM_BYTES * params + FIXED_BYTES)


def cap_patch(patch: Sequence[int], limit: int) -> tuple[int, ...]:
    """Shrink the largest axes by 10 % until ``patch`` has at most ``limit`` pixels (>= 16 per axis)."""
    out = tuple(int(p) for p in patch)
    while math.prod(out) > limit and max(out) > MIN_SIDE:
        big = max(out)
        out = tuple(max(MIN_SIDE, int(p * 0.9)) if p > 0.7 * big else p for p in out)
    return out


def planned_depth(patch: Sequence[int], cap: int) -> int:
    """The deepest network up to ``cap`` whose bottleneck keeps ``MIN_BOTTLENECK`` pixels per side."""
    depth = cap
    while depth > 2 and math.ceil(min(patch) / 2 ** (depth - 1)) < MIN_BOTTLENECK:
        depth -= 1
    return depth


def _rung_patch(median: Sequence[int], share: float, limit: int) -> tuple[int, ...]:
    """``share`` of the median image's area/volume (each axis scaled alike), capped at ``limit``."""
    scale = share ** (1 / len(median))
    return cap_patch([max(MIN_SIDE, min(int(m), round(m * scale))) for m in median], limit)


def build_ladder(median: Sequence[int], dims: int, model: ModelConfig, *, in_channels: int,
                 num_classes: int, device_kind: str, batch: int | None = None,
                 patch: Sequence[int] | None = None) -> list[Candidate]:
    """The candidates for a ``dims``-D network on images of ``median`` (trailing axes), smallest first.

    Parameters
    ----------
    median : sequence of int
        Median training image after resampling; a 2D network on volumes takes the last two axes.
    dims : int
        The network's dimensionality.
    model : ModelConfig
        ``base_width`` and ``max_width`` set here (not ``None``) replace every rung's; a set
        ``depth`` replaces the rungs' depth cap (it is still lowered for small patches).
    in_channels, num_classes : int
    device_kind : {"cpu", "cuda", "mps"}
        Picks :data:`PATCH_LIMITS` (``cpu`` or any accelerator).
    batch : int, optional
        ``train.batch_size``: replaces every rung's.
    patch : sequence of int, optional
        ``data.patch_size``: replaces every rung's (then the depth is planned from it).

    Returns
    -------
    list of Candidate
        Without duplicates (rungs that only differed in what the user fixed).
    """
    limit = PATCH_LIMITS["cpu" if device_kind == "cpu" else "accelerator"][dims]
    out: list[Candidate] = []
    for base, top, share, rung_batch, depth_cap in RUNGS[dims]:
        base = model.base_width if model.base_width is not None else base
        top = max(base, model.max_width if model.max_width is not None else top)
        if model.max_width is not None:
            base = min(base, model.max_width)
        p = tuple(int(v) for v in patch) if patch is not None else _rung_patch(median[-dims:], share, limit)
        depth = planned_depth(p, model.depth if model.depth is not None else depth_cap)
        divisor = 2 ** (depth - 1)
        p = tuple(int(math.ceil(v / divisor) * divisor) for v in p)
        c = Candidate(dims, base, top, depth, p, batch or rung_batch, in_channels, num_classes, model.norm)
        if c not in out:
            out.append(c)
    return out
