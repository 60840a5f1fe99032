"""Intensity normalisation: per-image z-score, or dataset-wide CT windowing whose statistics
travel in the plan (and so in every checkpoint).

Schemes
-------
``zscore``
    Per image and channel: ``(x - mean) / std``. Right for MRI, microscopy, photographs, where
    intensities have no absolute meaning. Needs no stored statistics.
``zscore_nonzero``
    As ``zscore``, but the mean and standard deviation come from the pixels that are non-zero in
    some channel: the zero background of skull-stripped, registered or masked images is left out
    of the statistics (nnU-Net's ``use_mask_for_norm``). With plain ``zscore`` the share of
    background decides where tissue lands after normalisation (a small cross-section at the top
    of a head moves brain from about 0.8 to 1.8 standard deviations); with ``zscore_nonzero`` it
    stays put. Every pixel, background included, goes through the same affine map.
``ct``
    Intensities are physical (Hounsfield units): clip every channel to the 0.5th-99.5th
    percentile of the *foreground* voxels of the training set, then subtract the foreground
    mean and divide by its standard deviation (nnU-Net's CT scheme). The four numbers per
    channel are computed once at planning time and stored.
``none``
    Raw intensities as float32.

``auto`` (the default of ``data.normalization``) picks ``ct`` when the dataset says CT
(``dataset.json`` ``modality``/``channel_names`` mentioning CT) or when intensities go below
-500 (air in HU is about -1000); else ``zscore_nonzero`` when the median image has at least
:data:`ZERO_BACKGROUND` of its pixels exactly zero; else ``zscore``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

SCHEMES = ("zscore", "zscore_nonzero", "ct", "none")
#: median share of exactly-zero pixels from which ``auto`` treats zero as background
ZERO_BACKGROUND = 0.2
#: foreground voxels sampled per training case for the CT statistics
SAMPLES_PER_CASE = 20000


def choose_scheme(requested: str, root: Path, intensity_min: float, zero_fraction: float = 0.0) -> str:
    """Resolve ``auto``; other values pass through.

    Parameters
    ----------
    requested : str
        ``data.normalization``.
    root : Path
        Dataset root (its ``dataset.json`` may say CT).
    intensity_min : float
        Lowest intensity in the dataset.
    zero_fraction : float
        Median over the images of the share of pixels that are zero in every channel.
    """
    if requested != "auto":
        return requested
    meta = root / "dataset.json"
    if meta.is_file():
        try:
            data = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            data = {}
        text = " ".join(str(data.get(k, "")) for k in ("modality", "channel_names", "modalities"))
        if re.search(r"\bCT\b", text):
            return "ct"
    if intensity_min < -500:
        return "ct"
    return "zscore_nonzero" if zero_fraction >= ZERO_BACKGROUND else "zscore"


def ct_statistics(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], seed: int = 0
                  ) -> dict[str, list[float]]:
    """Per-channel clip window and foreground mean/std from training images ``(C, *S)``."""
    rng = np.random.default_rng(seed)
    channels = images[0].shape[0]
    samples: list[list[np.ndarray]] = [[] for _ in range(channels)]
    for img, mask in zip(images, masks, strict=True):
        fg = mask > 0
        if not fg.any():
            continue
        for c in range(channels):
            values = img[c][fg]
            if len(values) > SAMPLES_PER_CASE:
                values = rng.choice(values, SAMPLES_PER_CASE, replace=False)
            samples[c].append(values.astype(np.float64))
    if not samples[0]:
        raise ValueError("CT normalisation needs foreground voxels in the training masks; "
                         "use --set data.normalization=\"zscore\"")
    stats: dict[str, list[float]] = {"low": [], "high": [], "mean": [], "std": []}
    for c in range(channels):
        v = np.concatenate(samples[c])
        lo, hi = np.percentile(v, (0.5, 99.5))
        clipped = np.clip(v, lo, hi)
        stats["low"].append(float(lo))
        stats["high"].append(float(hi))
        stats["mean"].append(float(clipped.mean()))
        stats["std"].append(float(max(clipped.std(), 1e-6)))
    return stats


def _check(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown normalization {scheme!r}; expected one of {', '.join(SCHEMES)}")


def normalize(image: np.ndarray, scheme: str, stats: dict[str, Any] | None = None) -> np.ndarray:
    """Normalise ``(C, *S)``; returns a new float32 array (the input is not modified)."""
    _check(scheme)
    img = image.astype(np.float32, copy=True)
    if scheme == "none":
        return img
    axes = tuple(range(1, img.ndim))
    if scheme == "ct":
        if not stats:
            raise ValueError("CT normalisation needs the statistics stored in the plan")
        shape = (-1,) + (1,) * (img.ndim - 1)
        lo, hi, mean, std = (np.asarray(stats[k], np.float32).reshape(shape)
                             for k in ("low", "high", "mean", "std"))
        return (np.clip(img, lo, hi) - mean) / std
    if scheme == "zscore_nonzero":
        inside = (img != 0).any(axis=0)
        if inside.any():
            values = img[:, inside]
            mean = values.mean(axis=1).reshape((-1,) + (1,) * len(axes))
            std = values.std(axis=1).reshape((-1,) + (1,) * len(axes))
            return (img - mean) / np.maximum(std, 1e-6)
    mean = img.mean(axis=axes, keepdims=True)
    std = img.std(axis=axes, keepdims=True)
    return (img - mean) / np.maximum(std, 1e-6)


def normalize_tensor(t: torch.Tensor, scheme: str, stats: dict[str, Any] | None = None) -> torch.Tensor:
    """:func:`normalize` for a tensor ``(C, *S)`` on any device."""
    _check(scheme)
    t = t.float()
    if scheme == "none":
        return t
    if scheme == "ct":
        if not stats:
            raise ValueError("CT normalisation needs the statistics stored in the plan")
        shape = (-1,) + (1,) * (t.ndim - 1)
        lo, hi, mean, std = (torch.tensor(stats[k], dtype=t.dtype, device=t.device).reshape(shape)
                             for k in ("low", "high", "mean", "std"))
        return (torch.maximum(torch.minimum(t, hi), lo) - mean) / std
    dims = tuple(range(1, t.ndim))
    if scheme == "zscore_nonzero":
        inside = (t != 0).any(dim=0)
        if bool(inside.any()):
            values = t[:, inside]
            shape = (-1,) + (1,) * len(dims)
            mean = values.mean(dim=1).reshape(shape)
            std = values.std(dim=1, unbiased=False).reshape(shape)
            return (t - mean) / std.clamp_min(1e-6)
    mean = t.mean(dim=dims, keepdim=True)
    std = t.std(dim=dims, keepdim=True, unbiased=False)
    return (t - mean) / std.clamp_min(1e-6)
