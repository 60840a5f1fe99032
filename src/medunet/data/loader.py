"""In-memory training data: normalised cases and a seeded patch sampler with foreground oversampling.

Foreground patches are centred on a random foreground voxel (``sampling="pixel"``: large
structures dominate) or on a random lesion first, then a voxel inside it (``sampling="lesion"``:
every connected component equally likely, see :mod:`medunet.data.lesions`). A 2D network on
volumes trains on slices (:func:`to_slices`), optionally with neighbouring slices as extra
channels (2.5D context, :mod:`medunet.data.slices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medunet.data.cases import Case, read_case_image
from medunet.data.lesions import lesion_coords
from medunet.data.normalize import normalize
from medunet.data.resample import resample_image, resample_mask
from medunet.data.slices import stack_context
from medunet.io import read_mask
from medunet.io.meta import array_spacing

#: foreground coordinates kept per case for oversampling (a random subset when larger)
MAX_FG_COORDS = 20000


@dataclass
class LoadedCase:
    """A case in memory: normalised image ``(C, *S)``, labels ``(*S)`` and foreground coordinates.

    ``lesion_ids`` (per row of ``fg_coords``, for lesion sampling) numbers the lesions within
    ``lesion_group`` (default: the case itself; the slices of one volume share the volume's
    group, so a lesion on three slices is one lesion). ``None``: not indexed by lesion.
    """

    case_id: str
    image: np.ndarray
    mask: np.ndarray
    fg_coords: np.ndarray
    lesion_ids: np.ndarray | None = None
    lesion_group: str | None = None

    @property
    def group(self) -> str:
        """The namespace of ``lesion_ids``: ``lesion_group``, else the case id."""
        return self.case_id if self.lesion_group is None else self.lesion_group


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


def with_lesions(cases: Sequence[LoadedCase], seed: int = 0) -> list[LoadedCase]:
    """The cases with foreground coordinates indexed by lesion (for ``sampling="lesion"``).

    Every lesion keeps coordinates (:func:`medunet.data.lesions.lesion_coords`, ``MAX_FG_COORDS``
    shared by the lesions of a case), unlike the pixel subsample that may drop a tiny lesion.
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in cases:
        coords, ids = lesion_coords(c.mask, rng, MAX_FG_COORDS)
        out.append(LoadedCase(c.case_id, c.image, c.mask, coords, ids))
    return out


def _lesion_slices(c: LoadedCase, context: int, rng: np.random.Generator) -> list[LoadedCase]:
    """A volume's slices with coordinates of the volume's 3D lesions (a voxel picks the slice)."""
    coords, ids = lesion_coords(c.mask, rng, MAX_FG_COORDS)
    out = []
    for z in range(c.mask.shape[0]):
        on = coords[:, 0] == z
        out.append(LoadedCase(f"{c.case_id}#z{z}", stack_context(c.image, z, context), c.mask[z],
                              coords[on, 1:], ids[on], c.case_id))
    return out


def to_slices(cases: Sequence[LoadedCase], seed: int = 0, *, context: int = 0,
              lesions: bool = False) -> list[LoadedCase]:
    """Volumes ``(C, Z, Y, X)`` as 2D cases ``(C * (2 context + 1), Y, X)``, one per slice of the first axis.

    Parameters
    ----------
    cases : sequence of LoadedCase
        Volumes.
    seed : int
        Seeds the foreground coordinate subsets.
    context : int
        2.5D: ``context`` slices on each side as extra channels, in the order of
        :func:`medunet.data.slices.stack_context` (edge slices repeat the nearest slice).
    lesions : bool
        Index the foreground by the volume's 3D lesions (``sampling="lesion"``); else each slice
        keeps a pixel subsample of its own foreground.
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in cases:
        if lesions:
            out.extend(_lesion_slices(c, context, rng))
            continue
        for z in range(c.mask.shape[0]):
            m = c.mask[z]
            out.append(LoadedCase(f"{c.case_id}#z{z}", stack_context(c.image, z, context), m,
                                  _fg_coords(m, rng)))
    return out


def training_cases(cases: Sequence[LoadedCase], seed: int, *, slicewise: bool, context: int = 0,
                   lesions: bool = False) -> list[LoadedCase]:
    """What the patch sampler draws from: the cases, or their slices for a 2D network on volumes.

    Raises
    ------
    ValueError
        2.5D ``context`` without a slicewise plan.
    """
    if slicewise:
        return to_slices(cases, seed, context=context, lesions=lesions)
    if context:
        raise ValueError(f"data.context_slices={context} needs a 2D network on volumes; "
                         "set data.context_slices=0 or model.spatial_dims=2")
    return with_lesions(cases, seed) if lesions else list(cases)


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


def _lesion_table(cases: Sequence[LoadedCase]) -> list[np.ndarray]:
    """Per lesion (over all cases), the ``(case index, fg_coords row)`` pairs of its voxels."""
    table: dict[tuple[str, int], list[np.ndarray]] = {}
    for i, c in enumerate(cases):
        if not len(c.fg_coords):
            continue
        if c.lesion_ids is None:
            raise ValueError(f"{c.case_id}: sampling='lesion' needs cases indexed by lesion "
                             "(with_lesions, or to_slices(..., lesions=True))")
        for lesion in np.unique(c.lesion_ids):
            rows = np.flatnonzero(c.lesion_ids == lesion)
            table.setdefault((c.group, int(lesion)), []).append(
                np.stack([np.full(len(rows), i), rows], axis=1))
    return [np.concatenate(parts) for parts in table.values()]


class PatchSampler:
    """Draw training batches of patches; a ``foreground_fraction`` of them centred on foreground.

    With ``sampling="pixel"`` a foreground patch picks a case that has foreground, then one of
    its foreground coordinates; with ``sampling="lesion"`` it picks a lesion (all cases
    together, each equally likely; the cases must carry ``lesion_ids``), then one of its voxels.
    All random choices come from the given ``torch.Generator``, so a run is reproducible and
    resumes exactly when the generator state is restored.
    """

    def __init__(self, cases: Sequence[LoadedCase], patch: Sequence[int], batch_size: int,
                 foreground_fraction: float, gen: torch.Generator, sampling: str = "pixel") -> None:
        if not cases:
            raise ValueError("no training cases")
        if sampling not in ("pixel", "lesion"):
            raise ValueError(f"train.sampling must be 'pixel' or 'lesion', got {sampling!r}")
        self.cases, self.patch, self.batch_size = list(cases), tuple(patch), batch_size
        self.fg_fraction, self.gen, self.sampling = foreground_fraction, gen, sampling
        self._with_fg = [i for i, c in enumerate(self.cases) if len(c.fg_coords)]
        self._lesions = _lesion_table(self.cases) if sampling == "lesion" else []

    def _randint(self, high: int) -> int:
        return int(torch.randint(0, max(high, 1), (1,), generator=self.gen))

    def _fg_centre(self) -> tuple[int, np.ndarray]:
        """A case index and a foreground voxel of it, drawn per pixel or per lesion."""
        if self.sampling == "lesion":
            pairs = self._lesions[self._randint(len(self._lesions))]
            idx, row = pairs[self._randint(len(pairs))]
            return int(idx), self.cases[idx].fg_coords[row]
        idx = self._with_fg[self._randint(len(self._with_fg))]
        coords = self.cases[idx].fg_coords
        return idx, coords[self._randint(len(coords))]

    def _start(self, shape: Sequence[int], centre: np.ndarray | None) -> list[int]:
        if centre is not None:
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
            idx, centre = self._fg_centre() if fg else (self._randint(len(self.cases)), None)
            case = self.cases[idx]
            start = self._start(case.mask.shape, centre)
            images.append(_crop_with_pad(case.image, start, self.patch))
            masks.append(_crop_with_pad(case.mask, start, self.patch))
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))
