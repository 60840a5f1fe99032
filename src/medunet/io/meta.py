"""Metadata that travels with every image so predictions can be written back faithfully."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: LPS (ITK, DICOM) <-> RAS (NIfTI, nibabel) world coordinates: flip x and y
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class ImageMeta:
    """What we must remember about an input file to write its prediction back.

    Array layout and geometry follow two different orders, as in SimpleITK:

    * ``shape`` is the **array** (NumPy) order: ``(H, W)`` for 2D rasters, ``(Z, Y, X)`` for
      volumes; images read through :mod:`medunet.io` are ``(C, *shape)``, masks ``shape``.
    * ``spacing``, ``origin`` and ``direction`` of volumes are in SimpleITK's **physical**
      ``(x, y, z)`` order and its world frame, **LPS** (x to the patient's left, y to posterior,
      z to superior; DICOM's frame, not NIfTI's RAS). ``spacing[0]`` is the size of a voxel
      along the *last* array axis. ``direction`` is the row-major 3x3 matrix whose column ``j``
      is the world direction of physical axis ``j``. Index ``(i, j, k)`` = ``array[k, j, i]``
      lies at ``origin + direction @ (spacing * (i, j, k))`` (see :attr:`affine`).
    * 2D rasters have no geometry: spacing ``(1.0, 1.0)``, origin ``(0.0, 0.0)``, identity
      direction, in the order of ``shape``.

    Parameters
    ----------
    path : Path
        The file (or DICOM series folder) the array was read from.
    shape : tuple of int
        Original spatial shape in array order, ``(H, W)`` for 2D or ``(Z, Y, X)`` for 3D.
    dtype : str
        NumPy dtype name of the stored pixels (``"uint8"``, ``"int16"``, ...).
    mode : str
        Colour layout of the file: ``"L"`` (grey), ``"RGB"``, ``"RGBA"``, ``"LA"`` or ``"volume"``.
    channels : int
        Number of image channels after reading (alpha is dropped; the 4th axis or the vector
        components of a 4D file; the number of ``_000N`` files of a multi-channel case).
    spacing : tuple of float
        Voxel size in mm along each physical axis, ``(x, y, z)`` for volumes (1.0 for rasters).
    origin : tuple of float
        World (LPS, mm) position of the centre of the first voxel (zeros for 2D rasters).
    direction : tuple of float
        Row-major direction cosines, ``ndim * ndim`` values (identity for 2D rasters).
    binary_255 : bool
        For masks: the file stored a binary mask as 0/255.
    snapped_pixels : int
        For lossy (JPEG) masks: pixels moved to their nearest level on reading
        (:mod:`medunet.io.snap`); 0 otherwise.
    extra : dict of str to str
        Format details, e.g. ``{"format": "dicom", "series_uid": ...}`` for DICOM series.
    """

    path: Path
    shape: tuple[int, ...]
    dtype: str
    mode: str
    channels: int = 1
    spacing: tuple[float, ...] = ()
    origin: tuple[float, ...] = ()
    direction: tuple[float, ...] = ()
    binary_255: bool = False
    snapped_pixels: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return len(self.shape)

    @property
    def affine(self) -> np.ndarray:
        """``(ndim + 1, ndim + 1)`` index-to-world matrix in **LPS** (ITK/DICOM) millimetres.

        It maps the physical-order index ``(i, j, k, 1)`` (``i`` along the last array axis) to
        world coordinates. For NIfTI's RAS convention use :attr:`ras_affine`.
        """
        n = len(self.spacing) or self.ndim
        out = np.eye(n + 1)
        if self.spacing:
            d = np.asarray(self.direction, dtype=np.float64).reshape(n, n)
            out[:n, :n] = d * np.asarray(self.spacing, dtype=np.float64)[None, :]
            out[:n, n] = np.asarray(self.origin, dtype=np.float64)
        return out

    @property
    def ras_affine(self) -> np.ndarray:
        """The 4x4 affine in **RAS** (NIfTI, nibabel ``img.affine``) convention; volumes only."""
        if len(self.spacing) != 3:
            raise ValueError(f"{self.path}: a RAS affine needs 3D geometry, got spacing {self.spacing}")
        return _LPS_TO_RAS @ self.affine

    def to_dict(self) -> dict[str, object]:
        """Plain-data form (JSON and ``torch.load(weights_only=True)`` safe)."""
        return {
            "path": str(self.path),
            "shape": list(self.shape),
            "dtype": self.dtype,
            "mode": self.mode,
            "channels": self.channels,
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": list(self.direction),
            "binary_255": self.binary_255,
        }


def _close(a: tuple[float, ...], b: tuple[float, ...], rtol: float) -> bool:
    if len(a) != len(b):
        return False
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    # relative for large values (origins in mm), absolute below 1 (direction cosines, zeros)
    return bool(np.all(np.abs(x - y) <= rtol * np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))))


def geometry_difference(a: ImageMeta, b: ImageMeta, rtol: float = 1e-4) -> str | None:
    """How the grids of two images differ, or ``None`` when they match.

    Shape must be equal; spacing, origin and direction must agree to ``rtol`` relative
    (absolute for values below 1).

    Returns
    -------
    str or None
        E.g. ``"spacing (1, 1, 3) vs (1, 1, 2.5)"``; several differences are joined by ``"; "``.
    """
    diffs = []
    if tuple(a.shape) != tuple(b.shape):
        diffs.append(f"size {_fmt(a.shape)} vs {_fmt(b.shape)}")
    for name in ("spacing", "origin", "direction"):
        va, vb = getattr(a, name), getattr(b, name)
        if not _close(va, vb, rtol):
            diffs.append(f"{name} ({', '.join(f'{v:.6g}' for v in va)}) vs "
                         f"({', '.join(f'{v:.6g}' for v in vb)})")
    return "; ".join(diffs) or None


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(v)) for v in shape)


def array_spacing(meta: ImageMeta) -> tuple[float, ...]:
    """Spacing per array axis: physical ``(x, y, z)`` reversed for volumes; 1.0 when unknown."""
    if not meta.spacing:
        return (1.0,) * meta.ndim
    sp = tuple(float(s) for s in meta.spacing[: meta.ndim])
    # volume formats store physical (x, y, z) order, the reverse of the array's axes
    return tuple(reversed(sp)) if meta.mode == "volume" else sp


#: stem ending of the per-voxel uncertainty maps written beside predicted masks
#: (``<case>_uncertainty.<ext>``); evaluation skips them when it pairs masks
UNCERTAINTY_SUFFIX = "_uncertainty"
