"""Boundary-distance metrics in physical units: HD95, ASSD and normalised surface Dice (NSD).

All functions take two boolean masks ``ref`` and ``pred`` of the same shape ``(*S)`` (2D or
3D, any number of axes works for the voxel conventions) and a ``spacing`` with one voxel size
per array axis, in mm (``None`` means 1.0 per axis, so distances are in voxels/pixels). The
boundaries and the directed surface distances they are computed from (face-connectivity
boundary voxels, one Euclidean distance transform per mask, exact cropping) are defined in
:mod:`medunet.surfaces`; the area-weighted surface elements of ``nsd_surface="surfel"`` in
:mod:`medunet.surfels`.

Tools disagree on how to combine the two directed distance sets, so the convention is a
named choice (:class:`DistanceSettings`; ``--hd-convention`` and ``--nsd-surface`` on the
command line), written into every metrics document. The defaults are ``"union"`` and
``"voxel"``.

Definitions
-----------
HD95, ``hd_convention="union"`` (default)
    The 95th percentile (numpy's default linear interpolation) of the **union** of both
    directed distance sets, ``np.percentile(np.hstack((d_ref_to_pred, d_pred_to_ref)), 95)``:
    MedPy's ``hd95``.
HD95, ``hd_convention="max_directed"``
    The larger of the two **directed** 95th percentiles,
    ``max(np.percentile(d_ref_to_pred, 95), np.percentile(d_pred_to_ref, 95))``: MONAI's
    ``compute_hausdorff_distance(percentile=95)``. Neither convention bounds the other: for a
    two-voxel bar shifted by one voxel along the 0.8 mm axis of a 3.0 x 0.8 mm grid the union
    gives 0.80 mm and the directed maximum 0.76 mm (each directed set is {0, 0.8}); where a
    small part of one mask lies far from the other, the directed maximum is the larger.
ASSD
    Average symmetric surface distance: the mean of the union of both distance sets (every
    boundary voxel of both masks counts once), as MedPy 0.5's ``assd`` and MONAI's
    ``compute_average_surface_distance(symmetric=True)``. It differs from the average of the
    two directed means when the boundaries have different numbers of voxels.
NSD, ``nsd_surface="voxel"`` (default)
    Normalised surface Dice at tolerance ``tau`` (mm), counted in boundary voxels:
    ``(|d_ref_to_pred <= tau| + |d_pred_to_ref <= tau|) / (|boundary_ref| + |boundary_pred|)``
    (MONAI's ``compute_surface_dice``).
NSD, ``nsd_surface="surfel"``
    The same fraction with every surface element weighted by its area (its length in 2D),
    distances measured between surface corners (:mod:`medunet.surfels`): DeepMind's
    surface-distance ``compute_surface_dice_at_tolerance`` and MONAI's
    ``compute_surface_dice(use_subvoxels=True)``. 2D and 3D masks only.

Empty masks
-----------
Both empty: HD95 = ASSD = 0.0 and NSD = 1.0 (nothing to find, nothing found). Exactly one
empty: HD95 = ASSD = ``None`` (undefined: the distance to an empty set is infinite; JSON
``null``) and NSD = 0.0. The same under every convention.
:func:`~medunet.surfaces.surface_distances` returns ``inf`` for the distances to an empty mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from medunet.distance_stats import (
    DISTANCE_KEYS,
    BoundaryMetrics,
    BoundarySummary,
    DistanceStat,
    summarise_boundary,
)
from medunet.surfaces import boundary_mask, surface_distances
from medunet.surfels import surfel_distances

__all__ = [
    "DISTANCE_KEYS",
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

#: HD95 conventions: ``"union"`` (95th percentile of the union of both directed distance sets;
#: MedPy's ``hd95``, medunet's default) or ``"max_directed"`` (the larger of the two directed 95th
#: percentiles; MONAI's ``compute_hausdorff_distance(percentile=95)``)
HdConvention = Literal["union", "max_directed"]
#: NSD surfaces: ``"voxel"`` (boundary voxels count one each; MONAI's ``compute_surface_dice``
#: default) or ``"surfel"`` (surface elements weighted by area; DeepMind's surface-distance and
#: MONAI's ``use_subvoxels=True``)
NsdSurface = Literal["voxel", "surfel"]
_HD_CONVENTIONS: tuple[HdConvention, ...] = ("union", "max_directed")
_NSD_SURFACES: tuple[NsdSurface, ...] = ("voxel", "surfel")


def _check(tolerance: float, hd_convention: str, nsd_surface: str, names: Sequence[str]) -> float:
    """The tolerance as a float; ValueError naming ``names[i]`` for a bad value of argument ``i``."""
    tol = float(tolerance)
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"{names[0]} must be a finite distance >= 0 (mm), got {tolerance!r}")
    if hd_convention not in _HD_CONVENTIONS:
        raise ValueError(f"{names[1]} must be one of {', '.join(_HD_CONVENTIONS)}, got {hd_convention!r}")
    if nsd_surface not in _NSD_SURFACES:
        raise ValueError(f"{names[2]} must be one of {', '.join(_NSD_SURFACES)}, got {nsd_surface!r}")
    return tol


@dataclass(frozen=True)
class DistanceSettings:
    """How boundary distances are computed: the NSD tolerance and the named conventions.

    Parameters
    ----------
    tolerance_mm : float
        NSD tolerance, in mm (in pixels for masks without a physical spacing).
    hd_convention : {"union", "max_directed"}
        HD95 as the 95th percentile of the union of both directed distance sets (MedPy), or as
        the larger of the two directed 95th percentiles (MONAI).
    nsd_surface : {"voxel", "surfel"}
        NSD counted in boundary voxels (MONAI's default), or over surface elements weighted by
        their area (DeepMind's surface-distance, MONAI's ``use_subvoxels=True``).

    Examples
    --------
    >>> DistanceSettings(tolerance_mm=2.0, hd_convention="max_directed")
    DistanceSettings(tolerance_mm=2.0, hd_convention='max_directed', nsd_surface='voxel')
    """

    tolerance_mm: float = 1.0
    hd_convention: HdConvention = "union"
    nsd_surface: NsdSurface = "voxel"

    def __post_init__(self) -> None:
        _check(self.tolerance_mm, self.hd_convention, self.nsd_surface,
               ("--nsd-tolerance", "--hd-convention", "--nsd-surface"))


def _hd95(d_rp: np.ndarray, d_pr: np.ndarray, convention: HdConvention) -> float:
    """HD95 of two non-empty directed distance sets under ``convention``."""
    if convention == "max_directed":
        return float(max(np.percentile(d_rp, 95), np.percentile(d_pr, 95)))
    return float(np.percentile(np.concatenate((d_rp, d_pr)), 95))


def _surfel_nsd(ref: ArrayLike, pred: ArrayLike, spacing: Sequence[float] | None,
                tolerance: float) -> float:
    """Area-weighted NSD of two non-empty masks (:mod:`medunet.surfels`)."""
    d_rp, d_pr, m_ref, m_pred = surfel_distances(ref, pred, spacing)
    within = m_ref[d_rp <= tolerance].sum() + m_pred[d_pr <= tolerance].sum()
    return float(within / (m_ref.sum() + m_pred.sum()))


def boundary_metrics(
    ref: ArrayLike,
    pred: ArrayLike,
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 1.0,
    *,
    hd_convention: HdConvention = "union",
    nsd_surface: NsdSurface = "voxel",
) -> BoundaryMetrics:
    """HD95, ASSD and NSD of two masks under the named conventions.

    See the module docstring for the definitions and their library equivalents.

    Parameters
    ----------
    ref, pred : array_like of bool, shape ``(*S)``
        Reference and predicted masks (non-zero = inside).
    spacing : sequence of float, optional
        Voxel size per array axis in mm; default 1.0 each (distances in voxels).
    tolerance_mm : float, optional
        NSD tolerance ``tau`` in the unit of ``spacing``; a distance equal to it counts.
    hd_convention : {"union", "max_directed"}, optional
        ``"union"``: 95th percentile of both directed sets together (MedPy); ``"max_directed"``:
        the larger directed 95th percentile (MONAI).
    nsd_surface : {"voxel", "surfel"}, optional
        ``"voxel"``: boundary voxels count one each (MONAI's default); ``"surfel"``: surface
        elements weighted by their area (DeepMind's surface-distance; 2D and 3D masks only).

    Returns
    -------
    BoundaryMetrics
        ``{"hd95": float | None, "assd": float | None, "nsd": float}``. Both masks empty:
        ``0.0, 0.0, 1.0``; exactly one empty: ``None, None, 0.0``.

    Raises
    ------
    ValueError
        The shapes differ, ``spacing`` does not hold one positive value per axis, the tolerance
        is negative, a convention is unknown, or ``nsd_surface="surfel"`` on masks that are
        neither 2D nor 3D.

    Examples
    --------
    >>> ref = np.zeros((8, 8), bool); ref[2, 1:7] = True
    >>> pred = np.roll(ref, 2, axis=0)  # the same line two rows lower
    >>> boundary_metrics(ref, pred, spacing=(0.5, 0.5), tolerance_mm=1.0)
    {'hd95': 1.0, 'assd': 1.0, 'nsd': 1.0}
    >>> bar = np.zeros((1, 4), bool); bar[0, :2] = True  # two voxels, shifted by one
    >>> boundary_metrics(bar, np.roll(bar, 1, axis=1), (3.0, 0.8), hd_convention="max_directed")
    {'hd95': 0.76, 'assd': 0.4, 'nsd': 1.0}
    >>> boundary_metrics(ref, np.zeros_like(ref))
    {'hd95': None, 'assd': None, 'nsd': 0.0}
    """
    tol = _check(tolerance_mm, hd_convention, nsd_surface,
                 ("tolerance_mm", "hd_convention", "nsd_surface"))
    d_rp, d_pr = surface_distances(ref, pred, spacing)
    if d_rp.size == 0 and d_pr.size == 0:
        return {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}
    if d_rp.size == 0 or d_pr.size == 0:
        return {"hd95": None, "assd": None, "nsd": 0.0}
    both = np.concatenate((d_rp, d_pr))
    if nsd_surface == "surfel":
        nsd_value = _surfel_nsd(ref, pred, spacing, tol)
    else:
        nsd_value = float(np.count_nonzero(both <= tol) / both.size)
    return {"hd95": _hd95(d_rp, d_pr, hd_convention), "assd": float(both.mean()), "nsd": nsd_value}


def hd95(
    ref: ArrayLike,
    pred: ArrayLike,
    spacing: Sequence[float] | None = None,
    *,
    hd_convention: HdConvention = "union",
) -> float | None:
    """95th percentile of the boundary distances, in mm, under ``hd_convention``.

    ``"union"`` (default): of both directed sets together; ``"max_directed"``: the larger of the
    two directed percentiles. Both masks empty: 0.0; exactly one empty: ``None`` (undefined).
    Parameters and errors as :func:`boundary_metrics`.

    Examples
    --------
    >>> ref = np.zeros((6, 6), bool); ref[1:5, 1:5] = True
    >>> hd95(ref, ref), hd95(ref, np.zeros_like(ref))
    (0.0, None)
    """
    return boundary_metrics(ref, pred, spacing, hd_convention=hd_convention)["hd95"]


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
    *,
    nsd_surface: NsdSurface = "voxel",
) -> float:
    """Normalised surface Dice: the fraction of both boundaries within ``tolerance_mm``.

    ``"voxel"`` (default): ``(|d_ref_to_pred <= tau| + |d_pred_to_ref <= tau|) /
    (|boundary_ref| + |boundary_pred|)``; ``"surfel"``: the same with surface elements weighted
    by their area. Both masks empty: 1.0; exactly one empty: 0.0. Parameters and errors as
    :func:`boundary_metrics`.

    Examples
    --------
    >>> ref = np.zeros((1, 6), bool); ref[0, 1] = True
    >>> nsd(ref, np.roll(ref, 1, axis=1), tolerance_mm=1.0), nsd(ref, ref, tolerance_mm=0.0)
    (1.0, 1.0)
    """
    return boundary_metrics(ref, pred, spacing, tolerance_mm, nsd_surface=nsd_surface)["nsd"]
