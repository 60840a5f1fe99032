"""Resampling between voxel grids (on the GPU when the tensors live there).

Spacing here is always given per **array axis** (``(Z, Y, X)`` order for volumes); use
:func:`medunet.io.meta.array_spacing` to get it from an :class:`~medunet.io.ImageMeta`, whose ``spacing`` follows
the file's physical ``(x, y, z)`` convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: an axis whose spacing is this many times the finest one is "low resolution" (nnU-Net's rule)
ANISOTROPY_RATIO = 3.0


def target_spacing(spacings: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The dataset's median spacing per axis.

    The median keeps a low-resolution (thick-slice) axis at its own resolution, so it is never
    upsampled to the in-plane spacing.
    """
    arr = np.asarray(spacings, dtype=np.float64)
    return tuple(float(v) for v in np.median(arr, axis=0))


def is_anisotropic(spacing: Sequence[float]) -> bool:
    """Whether the coarsest axis is at least ``ANISOTROPY_RATIO`` times the finest."""
    return max(spacing) / max(min(spacing), 1e-9) >= ANISOTROPY_RATIO


def resampled_shape(shape: Sequence[int], src: Sequence[float], dst: Sequence[float]) -> tuple[int, ...]:
    """Grid size after resampling ``shape`` from spacing ``src`` to ``dst``."""
    return tuple(max(1, int(round(n * s / d))) for n, s, d in zip(shape, src, dst, strict=True))


def same_spacing(a: Sequence[float], b: Sequence[float], rtol: float = 1e-3) -> bool:
    return bool(np.allclose(a, b, rtol=rtol, atol=0))


def resize(x: torch.Tensor, shape: Sequence[int], mode: str) -> torch.Tensor:
    """Resize ``(C, *S)`` to ``(C, *shape)``; ``mode`` is ``"linear"`` or ``"nearest"``."""
    if tuple(x.shape[1:]) == tuple(shape):
        return x
    dims = x.ndim - 1
    interp = {"linear": {2: "bilinear", 3: "trilinear"}[dims], "nearest": "nearest-exact"}[mode]
    kwargs = {"align_corners": False} if mode == "linear" else {}
    y = F.interpolate(x.unsqueeze(0).float(), size=tuple(int(s) for s in shape), mode=interp, **kwargs)
    return y[0]


def resample_image(image: np.ndarray, src: Sequence[float], dst: Sequence[float],
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Linear resampling of an image ``(C, *S)`` from spacing ``src`` to ``dst``."""
    if same_spacing(src, dst):
        return image
    shape = resampled_shape(image.shape[1:], src, dst)
    return resize(torch.from_numpy(image).to(device), shape, "linear").cpu().numpy()


def resample_mask(mask: np.ndarray, src: Sequence[float], dst: Sequence[float],
                  device: torch.device | str = "cpu") -> np.ndarray:
    """Nearest-neighbour resampling of a label map ``(*S)``."""
    if same_spacing(src, dst):
        return mask
    shape = resampled_shape(mask.shape, src, dst)
    t = torch.from_numpy(mask.astype(np.int64)).to(device).unsqueeze(0)
    return resize(t, shape, "nearest").round().long()[0].cpu().numpy()
