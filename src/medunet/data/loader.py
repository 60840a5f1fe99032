"""In-memory training data: normalised cases and a seeded patch sampler with foreground oversampling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medunet.data.cases import Case, read_case_image
from medunet.data.normalize import normalize
from medunet.data.resample import resample_image, resample_mask
from medunet.io import read_mask
from medunet.io.meta import array_spacing

#: foreground coordinates kept per case for oversampling (a random subset when larger)
MAX_FG_COORDS = 20000


@dataclass
class LoadedCase:
    """A case in memory: normalised image ``(C, *S)``, labels ``(*S)`` and foreground coordinates."""

    case_id: str
    image: np.ndarray
    mask: np.ndarray
    fg_coords: np.ndarray


@dataclass
class RawCase:
    """A case as read from disk, before resampling and normalisation."""

    case_id: str
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, ...]


def read_cases(cases: Sequence[Case]) -> list[RawCase]:
    """Read every case's image ``(C, *S)``, mask ``(*S)`` and spacing (per array axis)."""
    out = []
    for c in cases:
        img, meta = read_case_image(c)
        if c.mask is None:
            raise ValueError(f"{c.image}: training case has no mask")
        mask, _ = read_mask(c.mask)
        out.append(RawCase(c.case_id, img, mask.astype(np.int64), array_spacing(meta)))
    return out


def _fg_coords(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    fg = np.argwhere(mask > 0)
    if len(fg) > MAX_FG_COORDS:
        fg = fg[np.sort(rng.choice(len(fg), MAX_FG_COORDS, replace=False))]
    return fg


def prepare_cases(raw: Sequence[RawCase], scheme: str, spacing: Sequence[float] | None = None,
                  seed: int = 0, device: torch.device | str = "cpu",
                  stats: dict[str, Any] | None = None) -> list[LoadedCase]:
    """Resample to ``spacing`` (per array axis; ``None`` keeps the grid) and normalise
    (``stats``: what :func:`medunet.data.normalize.normalize` needs for ``scheme``)."""
    rng = np.random.default_rng(seed)
    out = []
    for r in raw:
        img, mask = r.image, r.mask
        if spacing and len(spacing) == mask.ndim:
            img = resample_image(img, r.spacing, spacing, device)
            mask = resample_mask(mask, r.spacing, spacing, device)
        out.append(LoadedCase(r.case_id, normalize(img, scheme, stats), mask, _fg_coords(mask, rng)))
    return out


def to_slices(cases: Sequence[LoadedCase], seed: int = 0) -> list[LoadedCase]:
    """Volumes ``(C, Z, Y, X)`` as 2D cases ``(C, Y, X)``, one per slice of the first axis."""
    rng = np.random.default_rng(seed)
    out = []
    for c in cases:
        for z in range(c.mask.shape[0]):
            m = c.mask[z]
            out.append(LoadedCase(f"{c.case_id}#z{z}", c.image[:, z], m, _fg_coords(m, rng)))
    return out


def _crop_with_pad(arr: np.ndarray, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Crop ``arr[..., start:start+size]`` over the trailing axes, zero-padding outside."""
    lead = arr.ndim - len(size)
    out = np.zeros(arr.shape[:lead] + tuple(size), dtype=arr.dtype)
    src, dst = [slice(None)] * lead, [slice(None)] * lead
    for s0, n, dim in zip(start, size, arr.shape[lead:], strict=True):
        a = min(max(s0, 0), dim)
        b = max(min(s0 + n, dim), a)  # empty (not negative) when the crop misses the axis
        src.append(slice(a, b))
        dst.append(slice(a - s0, b - s0))
    out[tuple(dst)] = arr[tuple(src)]
    return out


class PatchSampler:
    """Draw training batches of patches; a ``foreground_fraction`` of them centred on foreground.

    All random choices come from the given ``torch.Generator``, so a run is reproducible and
    resumes exactly when the generator state is restored.
    """

    def __init__(self, cases: Sequence[LoadedCase], patch: Sequence[int], batch_size: int,
                 foreground_fraction: float, gen: torch.Generator) -> None:
        if not cases:
            raise ValueError("no training cases")
        self.cases, self.patch, self.batch_size = list(cases), tuple(patch), batch_size
        self.fg_fraction, self.gen = foreground_fraction, gen
        self._with_fg = [i for i, c in enumerate(self.cases) if len(c.fg_coords)]

    def _randint(self, high: int) -> int:
        return int(torch.randint(0, max(high, 1), (1,), generator=self.gen))

    def _start(self, case: LoadedCase, foreground: bool) -> list[int]:
        shape = case.mask.shape
        if foreground and len(case.fg_coords):
            centre = case.fg_coords[self._randint(len(case.fg_coords))]
            starts = [int(c) - p // 2 for c, p in zip(centre, self.patch, strict=True)]
            # keep the patch inside the image where the image is larger than the patch
            return [min(max(s, 0), max(d - p, 0)) if d >= p else s
                    for s, d, p in zip(starts, shape, self.patch, strict=True)]
        return [self._randint(d - p + 1) if d > p else -((p - d) // 2)
                for d, p in zip(shape, self.patch, strict=True)]

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: images ``(B, C, *P)`` float32 and labels ``(B, *P)`` int64 (CPU tensors)."""
        images, masks = [], []
        for _ in range(self.batch_size):
            fg = bool(torch.rand(1, generator=self.gen) < self.fg_fraction) and bool(self._with_fg)
            idx = self._with_fg[self._randint(len(self._with_fg))] if fg else self._randint(len(self.cases))
            case = self.cases[idx]
            start = self._start(case, fg)
            images.append(_crop_with_pad(case.image, start, self.patch))
            masks.append(_crop_with_pad(case.mask, start, self.patch))
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))
