"""Metadata that travels with every image so predictions can be written back faithfully."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImageMeta:
    """What we must remember about an input file to write its prediction back.

    Parameters
    ----------
    path : Path
        The file the array was read from.
    shape : tuple of int
        Original spatial shape, ``(H, W)`` for 2D or ``(X, Y, Z)`` for 3D.
    dtype : str
        NumPy dtype name of the stored pixels (``"uint8"``, ``"uint16"``, ...).
    mode : str
        Colour layout of the file: ``"L"`` (grey), ``"RGB"``, ``"RGBA"``, ``"LA"`` or ``"volume"``.
    channels : int
        Number of image channels after reading (alpha is dropped).
    spacing : tuple of float
        Pixel/voxel size in mm along each spatial axis (1.0 when the format has none).
    origin : tuple of float
        World position of the first voxel (zeros for 2D rasters).
    direction : tuple of float
        Row-major direction cosines (identity for 2D rasters).
    binary_255 : bool
        For masks: the file stored a binary mask as 0/255.
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
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return len(self.shape)

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
