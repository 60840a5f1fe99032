"""What the training cases look like: the facts a plan is made from.

Computed from the training cases' arrays only, so the validation and test splits can never
change how a network is planned (as in nnU-Net's dataset fingerprint).

>>> import numpy as np
>>> from types import SimpleNamespace as Case
>>> img = np.array([[[0.0, 0.0], [2.0, 6.0]]], np.float32)
>>> fp = fingerprint_cases([Case(case_id="a", image=img, mask=np.array([[0, 0], [1, 1]]),
...                              spacing=(1.0, 1.0))])
>>> fp.median_shape, fp.zero_fraction, fp.foreground_fraction, fp.channel_mean
((2, 2), 0.5, 0.5, (2.0,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import ndimage


class CaseArrays(Protocol):
    """A case in memory (:class:`medunet.data.loader.RawCase` is one)."""

    case_id: str
    image: np.ndarray  # (C, *S)
    mask: np.ndarray  # (*S) integer labels
    spacing: tuple[float, ...]  # per array axis


@dataclass(frozen=True)
class DatasetFingerprint:
    """Shapes, spacings, intensities and label counts of a set of (training) cases.

    Attributes
    ----------
    shapes : tuple of tuple of int
        Per case, the image grid in array order (``(H, W)`` or ``(Z, Y, X)``).
    spacings : tuple of tuple of float
        Per case, mm per array axis (same order as ``shapes``).
    channels : int
        Image channels ``C`` (the same for every case).
    intensity_min, intensity_max : float
        Over every pixel and channel of every case.
    channel_mean, channel_std : tuple of float
        Per channel, over every pixel of every case.
    zero_fractions : tuple of float
        Per case, the share of pixels that are zero in every channel.
    label_pixels : tuple of (int, int)
        ``(mask value, pixel count)`` over every case, ascending by value.
    cases_with_foreground : int
        Cases whose mask has a non-zero pixel.
    lesion_sizes : tuple of (int, tuple of int)
        Per foreground class ``(value, sizes)``: the pixel/voxel counts of its connected
        components (full connectivity: diagonal neighbours join) over every case, ascending.
    lesion_volumes : tuple of (int, tuple of float)
        The same components in mm^2 (images) or mm^3 (volumes): pixel count x product of the
        case's spacing, ascending.
    lesions_per_case : tuple of (int, tuple of int)
        Per foreground class ``(value, counts)``: its number of components in each case, in case order.
    """

    shapes: tuple[tuple[int, ...], ...]
    spacings: tuple[tuple[float, ...], ...]
    channels: int
    intensity_min: float
    intensity_max: float
    channel_mean: tuple[float, ...]
    channel_std: tuple[float, ...]
    zero_fractions: tuple[float, ...]
    label_pixels: tuple[tuple[int, int], ...]
    cases_with_foreground: int
    lesion_sizes: tuple[tuple[int, tuple[int, ...]], ...] = ()
    lesion_volumes: tuple[tuple[int, tuple[float, ...]], ...] = ()
    lesions_per_case: tuple[tuple[int, tuple[int, ...]], ...] = ()

    @property
    def num_cases(self) -> int:
        return len(self.shapes)

    @property
    def data_dims(self) -> int:
        """2 for images, 3 for volumes."""
        return len(self.shapes[0])

    @property
    def median_shape(self) -> tuple[int, ...]:
        """Per axis, the median of the case shapes (the upper one for an even count)."""
        return median_shape(self.shapes)

    @property
    def zero_fraction(self) -> float:
        """Median over the cases of the share of all-zero pixels."""
        return float(np.median(self.zero_fractions))

    @property
    def foreground_fraction(self) -> float:
        """Share of all mask pixels that are not background (value 0)."""
        total = sum(n for _, n in self.label_pixels)
        return sum(n for v, n in self.label_pixels if v != 0) / total if total else 0.0

    @property
    def class_fractions(self) -> dict[int, float]:
        """Per foreground class value, its share of all mask pixels (0.0 for a declared-absent class)."""
        total = sum(n for _, n in self.label_pixels)
        return {v: (n / total if total else 0.0) for v, n in self.label_pixels if v != 0}

    @property
    def foreground_case_share(self) -> float:
        """Share of the cases whose mask has foreground."""
        return self.cases_with_foreground / self.num_cases if self.num_cases else 0.0

    @property
    def median_lesion_share(self) -> dict[int, float]:
        """Per foreground class, its median component size as a share of the median image's pixels."""
        pixels = math.prod(self.median_shape)
        return {v: float(np.median(sizes)) / pixels for v, sizes in self.lesion_sizes if sizes}


def median_shape(shapes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Per axis, the median of ``shapes`` (the upper one for an even count)."""
    ordered = [sorted(int(s[i]) for s in shapes) for i in range(len(shapes[0]))]
    return tuple(axis[len(axis) // 2] for axis in ordered)


def _check_cases(cases: Sequence[CaseArrays]) -> None:
    """Raise ``ValueError`` for no cases or cases that disagree on channels or dimensionality."""
    if not cases:
        raise ValueError("no training cases to fingerprint; the training split is empty")
    first = cases[0]
    for c in cases:
        if c.image.shape[0] != first.image.shape[0] or c.image.ndim != first.image.ndim:
            raise ValueError(f"case {c.case_id}: image is {c.image.shape} (C, *S) but case "
                             f"{first.case_id} is {first.image.shape}; convert the images to one "
                             "channel count and dimensionality")


def lesion_sizes(mask: np.ndarray, value: int) -> np.ndarray:
    """Pixel counts of the connected components of ``mask == value`` (full connectivity).

    >>> lesion_sizes(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 0]]), 1).tolist()
    [2, 2]
    """
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labelled, n = ndimage.label(mask == value, structure=structure)
    return np.bincount(labelled.ravel(), minlength=n + 1)[1:]


def _lesion_facts(cases: Sequence[CaseArrays], values: Sequence[int]) -> dict[str, tuple]:
    """The ``lesion_*`` fields of :class:`DatasetFingerprint` for the foreground ``values``."""
    sizes: dict[int, list[int]] = {v: [] for v in values}
    volumes: dict[int, list[float]] = {v: [] for v in values}
    per_case: dict[int, list[int]] = {v: [] for v in values}
    for c in cases:
        unit = math.prod(float(s) for s in c.spacing)
        present = set(np.unique(c.mask).tolist())
        for v in values:
            found = lesion_sizes(c.mask, v) if v in present else np.zeros(0, np.int64)
            sizes[v] += found.tolist()
            volumes[v] += (found * unit).tolist()
            per_case[v].append(len(found))
    return {"lesion_sizes": tuple((v, tuple(sorted(int(n) for n in sizes[v]))) for v in values),
            "lesion_volumes": tuple((v, tuple(sorted(float(x) for x in volumes[v]))) for v in values),
            "lesions_per_case": tuple((v, tuple(per_case[v])) for v in values)}


def fingerprint_cases(cases: Sequence[CaseArrays]) -> DatasetFingerprint:
    """Fingerprint ``cases`` (the training cases, before resampling and normalisation).

    Parameters
    ----------
    cases : sequence of CaseArrays
        Objects with ``case_id``, ``image`` ``(C, *S)``, ``mask`` ``(*S)`` and ``spacing``,
        e.g. :func:`medunet.data.loader.read_cases`'s result.

    Returns
    -------
    DatasetFingerprint

    Raises
    ------
    ValueError
        No cases, or cases with different channel counts or dimensionality.
    """
    _check_cases(cases)
    channels = cases[0].image.shape[0]
    total, total_sq, n = np.zeros(channels), np.zeros(channels), 0
    counts: dict[int, int] = {}
    for c in cases:
        flat = c.image.reshape(channels, -1).astype(np.float64)
        total += flat.sum(axis=1)
        total_sq += (flat * flat).sum(axis=1)
        n += flat.shape[1]
        for value, count in enumerate(np.bincount(c.mask.ravel())):
            if count:
                counts[value] = counts.get(value, 0) + int(count)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean * mean, 0.0))
    return DatasetFingerprint(
        shapes=tuple(tuple(int(v) for v in c.image.shape[1:]) for c in cases),
        spacings=tuple(tuple(float(v) for v in c.spacing) for c in cases),
        channels=int(channels),
        intensity_min=min(float(c.image.min()) for c in cases),
        intensity_max=max(float(c.image.max()) for c in cases),
        channel_mean=tuple(float(v) for v in mean),
        channel_std=tuple(float(v) for v in std),
        zero_fractions=tuple(float((c.image == 0).all(axis=0).mean()) for c in cases),
        label_pixels=tuple(sorted(counts.items())),
        cases_with_foreground=sum(int((c.mask > 0).any()) for c in cases),
        **_lesion_facts(cases, [v for v in sorted(counts) if v != 0]),
    )
