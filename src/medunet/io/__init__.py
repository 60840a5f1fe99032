"""Reading and writing images and masks: one reader per format family, one array layout.

Images come back as ``(C, *S)`` float32 and masks as ``(*S)`` int64, each with an
:class:`ImageMeta` that is enough to write a prediction back in the input's geometry.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from medunet.io.meta import ImageMeta
from medunet.io.raster import (
    RASTER_SUFFIXES,
    raster_to_image,
    raster_to_mask,
    read_raster,
    write_raster,
)

log = logging.getLogger(__name__)

__all__ = [
    "ImageMeta",
    "SUPPORTED_SUFFIXES",
    "case_stem",
    "is_supported",
    "read_image",
    "read_mask",
    "write_mask",
    "mask_output_name",
]

#: every suffix a reader exists for (3D formats join this table when their readers land)
SUPPORTED_SUFFIXES: tuple[str, ...] = RASTER_SUFFIXES


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def is_supported(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a suffix medunet can read."""
    return _suffix(Path(path)) in SUPPORTED_SUFFIXES


def case_stem(path: str | os.PathLike[str]) -> str:
    """File name without its (possibly double, e.g. ``.nii.gz``) suffix."""
    p = Path(path)
    s = _suffix(p)
    return p.name[: -len(s)] if s and p.name.lower().endswith(s) else p.stem


def _check_suffix(p: Path) -> None:
    if _suffix(p) not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"{p}: unsupported file type {p.suffix or '(none)'!r}; expected one of "
            + ", ".join(SUPPORTED_SUFFIXES)
        )


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file as ``(C, *S)`` float32 plus its metadata.

    Parameters
    ----------
    path : path-like
        A PNG, JPEG, TIFF or BMP file.

    Returns
    -------
    image : ndarray, shape (C, H, W), float32
    meta : ImageMeta

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, empty, corrupt or unsupported files; NaN/Inf pixels.

    Examples
    --------
    >>> img, meta = read_image("case01.png")  # doctest: +SKIP
    >>> img.shape, meta.shape                  # doctest: +SKIP
    ((1, 224, 192), (224, 192))
    """
    p = Path(path)
    _check_suffix(p)
    arr, meta = read_raster(p)
    return raster_to_image(arr, meta), meta


def read_mask(path: str | os.PathLike[str]) -> tuple[np.ndarray, ImageMeta]:
    """Read a label mask as ``(*S)`` int64; binary 0/255 masks are mapped to 0/1.

    ``meta.binary_255`` records whether that mapping happened, so predictions can be
    written back the same way.
    """
    p = Path(path)
    _check_suffix(p)
    arr, meta = read_raster(p)
    labels, is_255 = raster_to_mask(arr, meta)
    if is_255:
        meta = ImageMeta(**{**meta.__dict__, "binary_255": True, "channels": 1})
    return labels, meta


def mask_output_name(meta: ImageMeta, stem: str | None = None) -> str:
    """File name for a predicted mask: the input's stem, in a lossless format of its family."""
    src = Path(meta.path)
    s = _suffix(src)
    stem = stem if stem is not None else case_stem(src)
    out_suffix = s if s in (".png", ".tif", ".tiff", ".bmp") else ".png"
    return stem + out_suffix


def write_mask(
    labels: np.ndarray,
    meta: ImageMeta,
    path: str | os.PathLike[str],
    *,
    binary_255: bool | None = None,
) -> Path:
    """Write a label map with the input's geometry (atomically).

    Parameters
    ----------
    labels : ndarray, shape (*S)
        Integer labels; must have the shape recorded in ``meta``.
    meta : ImageMeta
        Metadata of the input image the labels belong to.
    path : path-like
        Destination file; its suffix picks the format.
    binary_255 : bool, optional
        Store a binary mask as 0/255 (default: ``meta.binary_255``).
    """
    p = Path(path)
    if tuple(labels.shape) != tuple(meta.shape):
        raise ValueError(
            f"{p}: mask shape {tuple(labels.shape)} does not match the input's shape {meta.shape}"
        )
    to255 = meta.binary_255 if binary_255 is None else binary_255
    lab = np.asarray(labels)
    if lab.size and (lab.min() < 0 or lab.max() > 65535):
        raise ValueError(f"{p}: labels must be in 0..65535, got {lab.min()}..{lab.max()}")
    if to255:
        if lab.size and lab.max() > 1:
            raise ValueError(f"{p}: cannot store labels > 1 as a 0/255 binary mask")
        out = (lab * 255).astype(np.uint8)
    else:
        out = lab.astype(np.uint8 if (not lab.size or lab.max() < 256) else np.uint16)
    return write_raster(out, p)
