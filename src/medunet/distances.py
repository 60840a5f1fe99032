"""Boundary-distance metrics in physical units: HD95, ASSD and normalised surface Dice (NSD).

All functions take two boolean masks ``ref`` and ``pred`` of the same shape ``(*S)`` (2D or
3D, any number of axes works) and a ``spacing`` with one voxel size per array axis, in mm
(``None`` means 1.0 per axis, so distances are in voxels/pixels). The boundaries and the
directed surface distances they are computed from (face-connectivity boundaries, one
Euclidean distance transform per mask, exact cropping) are defined in :mod:`medunet.surfaces`.

Definitions
-----------
HD95
    The 95th percentile (numpy's default linear interpolation) of the **union** of both
    directed distance sets, ``np.percentile(np.hstack((d_ref_to_pred, d_pred_to_ref)), 95)``
    (medpy's ``hd95``). MONAI's default instead takes the larger of the two directed 95th
    percentiles, which is never smaller.
ASSD
    Average symmetric surface distance: the mean of the union of both distance sets (every
    boundary voxel of both masks counts once). medpy's ``assd`` instead averages the two
    directed means; the two agree when both boundaries have the same number of voxels.
NSD
    Normalised surface Dice at tolerance ``tau`` (mm):
    ``(|d_ref_to_pred <= tau| + |d_pred_to_ref <= tau|) / (|boundary_ref| + |boundary_pred|)``,
    counted in boundary voxels (MONAI's ``compute_surface_dice`` without sub-voxel surfaces).

Empty masks
-----------
Both empty: HD95 = ASSD = 0.0 and NSD = 1.0 (nothing to find, nothing found). Exactly one
empty: HD95 = ASSD = ``None`` (undefined: the distance to an empty set is infinite; JSON
``null``) and NSD = 0.0. :func:`~medunet.surfaces.surface_distances` returns ``inf`` for the
distances to an empty mask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from medunet.metrics import Stat
from medunet.surfaces import boundary_mask, surface_distances

__all__ = [
    "DistanceSettings",
    "HdConvention",
    "NsdSurface",
    "BoundaryMetrics",
    "BoundarySummary",
    "DistanceStat",
    "boundary_mask",
    "surface_distances",
    "hd95",
    "assd",
    "nsd",
    "boundary_metrics",
    "summarise_boundary",
]

#: the boundary metrics, in the order documents list them
DISTANCE_KEYS = ("hd95", "assd", "nsd")

#: HD95 conventions: ``"union"`` (95th percentile of the union of both directed distance sets;
#: MedPy's ``hd95``, medunet's default) or ``"max_directed"`` (the larger of the two directed 95th
#: percentiles; MONAI's ``compute_hausdorff_distance(percentile=95)``)
HdConvention = Literal["union", "max_directed"]
#: NSD surfaces: ``"voxel"`` (boundary voxels count one each; MONAI's ``compute_surface_dice``
#: default) or ``"surfel"`` (surface elements weighted by area; DeepMind's surface-distance and
#: MONAI's ``use_subvoxels=True``)
NsdSurface = Literal["voxel", "surfel"]


@dataclass(frozen=True)
class DistanceSettings:
    """How boundary distances are computed: the NSD tolerance and the named conventions.

    Parameters
    ----------
    tolerance_mm : float
        NSD tolerance, in mm (in pixels for masks without a physical spacing).
    hd_convention : {"union", "max_directed"}
    nsd_surface : {"voxel", "surfel"}
    """

    tolerance_mm: float = 1.0
    hd_convention: HdConvention = "union"
    nsd_surface: NsdSurface = "voxel"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tolerance_mm) and self.tolerance_mm >= 0):
            raise ValueError(f"--nsd-tolerance must be a finite distance >= 0, got {self.tolerance_mm!r}")
        if self.hd_convention not in ("union", "max_directed"):
            raise ValueError(f"--hd-convention must be union or max_directed, got {self.hd_convention!r}")
        if self.nsd_surface not in ("voxel", "surfel"):
            raise ValueError(f"--nsd-surface must be voxel or surfel, got {self.nsd_surface!r}")


class BoundaryMetrics(TypedDict):
    """Result of :func:`boundary_metrics`; ``None`` where the value is undefined."""

    hd95: float | None
    assd: float | None
    nsd: float


@dataclass(frozen=True)
class DistanceStat(Stat):
    """A :class:`~medunet.metrics.Stat` over the cases where a boundary metric is defined,
    and the number of cases where it is not (exactly one mask empty)."""

    undefined: int = 0

    def to_dict(self) -> dict[str, float | int | None]:
        """``{"mean", "std", "n", "undefined"}`` (``metrics.json``)."""
        return {**super().to_dict(), "undefined": self.undefined}


@dataclass(frozen=True)
class BoundarySummary:
    """Per class, the :class:`DistanceStat` of each boundary metric over cases."""

    hd95: Mapping[str, DistanceStat]
    assd: Mapping[str, DistanceStat]
    nsd: Mapping[str, DistanceStat]

    def to_dict(self) -> dict[str, dict[str, dict[str, float | int | None]]]:
        """``{"hd95" | "assd" | "nsd": {name: {"mean", "std", "n", "undefined"}}}``."""
        return {key: {n: s.to_dict() for n, s in per_class.items()}
                for key, per_class in (("hd95", self.hd95), ("assd", self.assd),
                                       ("nsd", self.nsd))}


def _check_tolerance(tolerance_mm: float) -> float:
    """The NSD tolerance as a float; ValueError unless finite and >= 0."""
    tol = float(tolerance_mm)
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tolerance_mm must be a finite distance >= 0 (mm), got {tolerance_mm!r}")
    return tol


def _summarise(d_rp: np.ndarray, d_pr: np.ndarray, tolerance: float) -> BoundaryMetrics:
    """HD95, ASSD and NSD from the two directed distance sets, with the empty-mask policy."""
    if d_rp.size == 0 and d_pr.size == 0:
        return {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    if d_rp.size == 0 or d_pr.size == 0:
        return {"hd95": None, "assd": None, "nsd": 0.0}
    both = np.concatenate((d_rp, d_pr))
    return {
        "hd95": float(np.percentile(both, 95)),
        "assd": float(both.mean()),
        "nsd": float(np.count_nonzero(both <= tolerance) / both.size),
    }


def boundary_metrics(
    ref: ArrayLike,
    pred: ArrayLike,
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 1.0,
) -> BoundaryMetrics:
    """HD95, ASSD and NSD of two masks from one pair of distance transforms.

    See the module docstring for the definitions (HD95 is the 95th percentile of the union
    of both directed distance sets).

    Parameters
    ----------
    ref, pred : array_like of bool, shape ``(*S)``
        Reference and predicted masks (non-zero = inside).
    spacing : sequence of float, optional
        Voxel size per array axis in mm; default 1.0 each (distances in voxels).
    tolerance_mm : float, optional
        NSD tolerance ``tau`` in the unit of ``spacing``; a distance equal to it counts.

    Returns
    -------
    BoundaryMetrics
        ``{"hd95": float | None, "assd": float | None, "nsd": float}``. Both masks empty:
        ``0.0, 0.0, 1.0``; exactly one empty: ``None, None, 0.0``.

    Raises
    ------
    ValueError
        The shapes differ, ``spacing`` does not hold one positive value per axis, or the
        tolerance is negative.

    Examples
    --------
    >>> ref = np.zeros((8, 8), bool); ref[2, 1:7] = True
    >>> pred = np.roll(ref, 2, axis=0)  # the same line two rows lower
    >>> boundary_metrics(ref, pred, spacing=(0.5, 0.5), tolerance_mm=1.0)
    {'hd95': 1.0, 'assd': 1.0, 'nsd': 1.0}
    >>> boundary_metrics(ref, np.zeros_like(ref))
    {'hd95': None, 'assd': None, 'nsd': 0.0}
    """
    tol = _check_tolerance(tolerance_mm)
    return _summarise(*surface_distances(ref, pred, spacing), tol)


def hd95(ref: ArrayLike, pred: ArrayLike, spacing: Sequence[float] | None = None) -> float | None:
    """95th percentile of the union of both directed boundary distances, in mm.

    Both masks empty: 0.0; exactly one empty: ``None`` (undefined). Parameters and errors
    as :func:`boundary_metrics`.

    Examples
    --------
    >>> ref = np.zeros((6, 6), bool); ref[1:5, 1:5] = True
    >>> hd95(ref, ref), hd95(ref, np.zeros_like(ref))
    (0.0, None)
    """
    return boundary_metrics(ref, pred, spacing)["hd95"]


def assd(ref: ArrayLike, pred: ArrayLike, spacing: Sequence[float] | None = None) -> float | None:
    """Average symmetric surface distance (mean of the union of both distance sets), in mm.

    Both masks empty: 0.0; exactly one empty: ``None`` (undefined). Parameters and errors
    as :func:`boundary_metrics`.

    Examples
    --------
    >>> ref = np.zeros((1, 6), bool); ref[0, 1] = True
    >>> assd(ref, np.roll(ref, 3, axis=1), spacing=(1.0, 2.0))
    6.0
    """
    return boundary_metrics(ref, pred, spacing)["assd"]


def nsd(
    ref: ArrayLike,
    pred: ArrayLike,
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 1.0,
) -> float:
    """Normalised surface Dice: the fraction of both boundaries within ``tolerance_mm``.

    ``(|d_ref_to_pred <= tau| + |d_pred_to_ref <= tau|) / (|boundary_ref| + |boundary_pred|)``.
    Both masks empty: 1.0; exactly one empty: 0.0. Parameters and errors as
    :func:`boundary_metrics`.

    Examples
    --------
    >>> ref = np.zeros((1, 6), bool); ref[0, 1] = True
    >>> nsd(ref, np.roll(ref, 1, axis=1), tolerance_mm=1.0), nsd(ref, ref, tolerance_mm=0.0)
    (1.0, 1.0)
    """
    return boundary_metrics(ref, pred, spacing, tolerance_mm)["nsd"]


def _distance_stat(values: Sequence[float | None]) -> DistanceStat:
    """Mean and population std of the defined values; ``None`` counted as undefined."""
    defined = [float(v) for v in values if v is not None]
    return replace(DistanceStat.of(defined), undefined=len(values) - len(defined))


def summarise_boundary(
    cases: Sequence[Sequence[BoundaryMetrics]], names: Sequence[str]
) -> BoundarySummary:
    """Mean and standard deviation over cases of each boundary metric, per class.

    Parameters
    ----------
    cases : sequence of sequence of BoundaryMetrics
        Per case, one :func:`boundary_metrics` result per class of ``names``.
    names : sequence of str
        The class names the inner sequences follow (foreground classes in evaluation).

    Returns
    -------
    BoundarySummary
        Per metric and class, the mean and population std over the cases where the value is
        defined (``n`` of them) and the number of cases where it is ``None`` (exactly one mask
        empty). Cases where both masks are empty are included with their policy values
        (0, 0, 1).

    Examples
    --------
    >>> a = {"hd95": 2.0, "assd": 1.0, "nsd": 0.5}; b = {"hd95": None, "assd": None, "nsd": 0.0}
    >>> summarise_boundary([[a], [b]], ["tumour"]).hd95
    {'tumour': DistanceStat(mean=2.0, std=0.0, n=1, undefined=1)}
    """
    def per_class(key: str) -> dict[str, DistanceStat]:
        return {name: _distance_stat([case[i][key] for case in cases])  # type: ignore[literal-required]
                for i, name in enumerate(names)}

    return BoundarySummary(hd95=per_class("hd95"), assd=per_class("assd"), nsd=per_class("nsd"))
