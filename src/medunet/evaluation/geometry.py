"""Grids of evaluated mask pairs: compare a prediction's geometry with its reference's, or resample
the prediction onto the reference grid (nearest neighbour).

Another tool's writer may store the right voxels on another grid (an axis reversed with the
direction flipped to match, or another spacing). Comparing arrays voxel by voxel is only valid
when both grids are the same, so evaluation checks spacing, origin and direction of every volume
pair (:func:`medunet.io.geometry_difference`) and, when asked, resamples instead. 2D rasters
(PNG, TIFF, ...) have no geometry beyond their shape.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import SimpleITK as sitk

from medunet.io import ImageMeta

__all__ = ["GeometryPolicy", "describe_grid", "resample_to_reference"]

#: what evaluation does when a prediction's grid differs from its reference's: ``"check"``
#: refuses the pair, ``"resample"`` resamples the prediction onto the reference grid (nearest)
GeometryPolicy = Literal["check", "resample"]


def _values(values: tuple[float, ...]) -> str:
    """``(0.7, 0.9, 3)``: values with 6 significant digits."""
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def describe_grid(meta: ImageMeta) -> str:
    """One-line grid of a volume: size (physical x, y, z order), spacing, origin and direction."""
    size = "x".join(str(int(v)) for v in reversed(meta.shape))
    return (f"size {size}, spacing {_values(meta.spacing)}, origin {_values(meta.origin)}, "
            f"direction {_values(meta.direction)}")


def resample_to_reference(pred: np.ndarray, pred_meta: ImageMeta, ref_meta: ImageMeta) -> np.ndarray:
    """The label volume ``pred`` resampled onto the grid of ``ref_meta`` (nearest neighbour).

    Each reference voxel takes the label of the prediction voxel whose centre is nearest to its
    world position; reference voxels outside the prediction's extent get 0 (background).

    Parameters
    ----------
    pred : ndarray of int, shape ``pred_meta.shape``
        Label volume in array order ``(Z, Y, X)``.
    pred_meta, ref_meta : ImageMeta
        Geometries (spacing, origin, direction) of the prediction and the reference volumes.

    Returns
    -------
    ndarray, shape ``ref_meta.shape``
        The labels on the reference grid, with ``pred``'s dtype.

    Examples
    --------
    >>> from pathlib import Path
    >>> ref = ImageMeta(Path("r.nii"), (1, 1, 4), "uint8", "volume", spacing=(1.0, 1.0, 1.0),
    ...                 origin=(0.0, 0.0, 0.0), direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    >>> flipped = ImageMeta(Path("p.nii"), (1, 1, 4), "uint8", "volume", spacing=(1.0, 1.0, 1.0),
    ...                     origin=(3.0, 0.0, 0.0), direction=(-1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    >>> resample_to_reference(np.array([[[0, 0, 1, 2]]]), flipped, ref).tolist()
    [[[2, 1, 0, 0]]]
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(pred))
    image.SetSpacing(pred_meta.spacing)
    image.SetOrigin(pred_meta.origin)
    image.SetDirection(pred_meta.direction)
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(v) for v in reversed(ref_meta.shape)])  # ITK sizes are (x, y, z)
    resampler.SetOutputSpacing(ref_meta.spacing)
    resampler.SetOutputOrigin(ref_meta.origin)
    resampler.SetOutputDirection(ref_meta.direction)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    return sitk.GetArrayFromImage(resampler.Execute(image)).astype(pred.dtype, copy=False)
