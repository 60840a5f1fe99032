"""Pixel-exact report pictures drawn with numpy: scaling, outlines, colour fills and PNG bytes.

The gallery panels and the slice scroller's frames are drawn here rather than with matplotlib:
every mask pixel maps to a known block of output pixels (``scale`` below), so the colour of a
false-positive pixel can be checked in the PNG, hundreds of frames render in a fraction of a
second, and the bytes are the same for the same input. Colours are from the Okabe-Ito palette,
which stays distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["FN_COLOUR", "FP_COLOUR", "GREY_LEVELS", "MAX_SIDE", "MIN_SIDE", "WRONG_CLASS_COLOUR", "Scale",
           "Window", "dashed", "display_image", "encode_png", "fill", "hex_rgb", "intensity_window",
           "outline", "scale_for", "shown_channels", "to_rgb", "UNCERTAINTY_LEVELS", "uncertainty_rgb"]

#: largest side of a drawn panel: larger slices are subsampled by an integer stride
MAX_SIDE = 256
#: smaller slices are enlarged by an integer factor up to about this side
MIN_SIDE = 256
#: grey levels of a drawn image: hardly visible on a screen, and noisy scans compress a fifth
#: better than with 256
GREY_LEVELS = 128
#: predicted foreground where the reference is background
FP_COLOUR = "#e69f00"
#: reference foreground the prediction left as background
FN_COLOUR = "#56b4e9"
#: foreground in both, but of another class
WRONG_CLASS_COLOUR = "#f0e442"
#: colours of an uncertainty panel (viridis, 0 to 1 in equal steps): few enough that a frame
#: with grey and overlay colours keeps a palette (see encode_png)
UNCERTAINTY_LEVELS = 32


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as an ``(r, g, b)`` tuple of ints."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@dataclass(frozen=True)
class Scale:
    """Take every ``stride``-th pixel, then repeat each ``factor`` times along both axes."""

    stride: int
    factor: int

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """``arr`` (H, W, ...) at display size, nearest neighbour."""
        small = arr[:: self.stride, :: self.stride]
        if self.factor == 1:
            return small
        return np.repeat(np.repeat(small, self.factor, axis=0), self.factor, axis=1)


def scale_for(shape: tuple[int, ...]) -> Scale:
    """The display scale of an (H, W) slice: at most ``MAX_SIDE``, small ones enlarged."""
    side = max(shape[0], shape[1], 1)
    stride = max(1, math.ceil(side / MAX_SIDE))
    factor = max(1, MIN_SIDE // side) if stride == 1 else 1
    return Scale(stride, factor)


#: ``(low, high)`` intensities shown as black and white
Window = tuple[float, float]
_WINDOW_SAMPLES = 1_000_000  # percentiles of a large volume from an even subsample of it


def shown_channels(image: np.ndarray) -> np.ndarray:
    """The channels of a (C, *S) image that are drawn: all three of RGB, else the first."""
    arr = np.asarray(image)
    return arr if arr.shape[0] == 3 else arr[:1]


def intensity_window(values: np.ndarray) -> Window | None:
    """The 1st and 99th percentile of the finite values (their range when those are equal);
    ``None`` when there is nothing to scale (no finite value, or all equal)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[:: max(1, flat.size // _WINDOW_SAMPLES)]
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(finite, [1.0, 99.0]))
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else None


def display_image(image: np.ndarray | None, shape: tuple[int, ...],
                  window: Window | None = None) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB in [0, 1], scaled to ``window`` (default: this image's
    1st to 99th percentile, :func:`intensity_window`).

    ``image`` is (H, W) or (C, H, W); three channels are shown as RGB, otherwise the first
    channel. ``None`` gives black. Raises ``ValueError`` when (H, W) differs from ``shape``.
    """
    if image is None:
        return np.zeros(shape[:2], dtype=np.float64)
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1) if arr.shape[0] == 3 else arr[0]
    if arr.ndim not in (2, 3) or arr.shape[:2] != tuple(shape[:2]):
        raise ValueError(f"image has shape {np.shape(image)}, expected (H, W) or (C, H, W) with "
                         f"(H, W) = {tuple(shape[:2])}")
    limits = window if window is not None else intensity_window(arr)
    if limits is None:
        return np.zeros(arr.shape, dtype=np.float64)
    lo, hi = limits
    return np.clip((np.nan_to_num(arr, nan=lo) - lo) / (hi - lo), 0.0, 1.0)


def to_rgb(shown: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) values in [0, 1] as (H, W, 3) uint8; grey in ``GREY_LEVELS`` steps."""
    arr = np.asarray(shown, dtype=np.float64)
    if arr.ndim == 2:
        # fewer grey levels than 256 leave palette room for the overlay colours (see encode_png)
        steps = np.round(arr * (GREY_LEVELS - 1)) * (255.0 / (GREY_LEVELS - 1))
        return np.repeat(np.round(steps).astype(np.uint8)[..., None], 3, axis=2)
    return np.round(arr * 255.0).astype(np.uint8)


@cache
def _viridis() -> np.ndarray:
    """(UNCERTAINTY_LEVELS, 3) uint8: viridis from 0 to 1 (only its colour table from matplotlib)."""
    from matplotlib import colormaps

    table = colormaps["viridis"](np.linspace(0.0, 1.0, UNCERTAINTY_LEVELS))[:, :3]
    return np.asarray(np.round(table * 255.0), dtype=np.uint8)


def uncertainty_rgb(values: np.ndarray) -> np.ndarray:
    """(H, W) values, fixed range 0..1 (clipped, NaN as 0), as (H, W, 3) uint8 viridis."""
    arr = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0), 0.0, 1.0)
    return _viridis()[np.round(arr * (UNCERTAINTY_LEVELS - 1)).astype(np.intp)]


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The inner boundary of ``mask`` (pixels of it with a neighbour outside), ``width`` thick."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return m
    inner = ndimage.binary_erosion(m, iterations=width, border_value=0)
    return m & ~inner


def dashed(mask: np.ndarray, period: int = 6) -> np.ndarray:
    """``mask`` with every other run of ``period // 2`` diagonals removed (a dashed line)."""
    yy, xx = np.indices(mask.shape[:2])
    return mask & (((yy + xx) // max(1, period // 2)) % 2 == 0)


def fill(rgb: np.ndarray, mask: np.ndarray, colour: str, alpha: float = 1.0) -> None:
    """Paint ``mask`` of the (H, W, 3) uint8 ``rgb`` in place with ``colour`` at ``alpha``."""
    if not mask.any():
        return
    target = np.asarray(hex_rgb(colour), dtype=np.float64)
    if alpha >= 1.0:
        rgb[mask] = target.astype(np.uint8)
        return
    mixed = (1.0 - alpha) * rgb[mask].astype(np.float64) + alpha * target
    rgb[mask] = np.round(mixed).astype(np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 as PNG bytes, with a palette when it has at most 256 colours.

    Grey images with a few overlay colours usually do, which makes the file about a third
    of the RGB one; the palette is in order of first appearance, so the bytes are deterministic.
    """
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    flat = arr.reshape(-1, 3)
    codes = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    colours, first, index = np.unique(codes, return_index=True, return_inverse=True)
    buf = io.BytesIO()
    if colours.size <= 256:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        im = Image.fromarray(rank[index].reshape(arr.shape[:2]).astype(np.uint8))
        im.putpalette(flat[first[order]].reshape(-1).tolist())  # "L" becomes "P"
    else:
        im = Image.fromarray(arr)
    im.save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()
