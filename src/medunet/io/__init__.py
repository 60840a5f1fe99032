"""Reading and writing images and masks: one reader per format family, one array layout.

Images come back as ``(C, *S)`` float32 and masks as ``(*S)`` int64, each with an
:class:`ImageMeta` that is enough to write a prediction back in the input's geometry.
``S`` is ``(H, W)`` for 2D rasters (:mod:`.raster`) and ``(Z, Y, X)`` for volumes
(:mod:`.volume`: NIfTI, NRRD, MetaImage, and DICOM series given as a folder).
The reader is picked from the suffix (a folder means DICOM); see :data:`READERS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from medunet.io.meta import ImageMeta, array_spacing, geometry_difference
from medunet.io.raster import (
    RASTER_SUFFIXES,
    raster_to_image,
    raster_to_mask,
    read_raster,
    write_raster,
)
from medunet.io.snap import is_lossy, snap_lossy_mask
from medunet.io.volume import (
    VOLUME_SUFFIXES,
    read_volume,
    volume_to_image,
    volume_to_mask,
    write_volume,
)

log = logging.getLogger(__name__)

__all__ = [
    "ImageMeta",
    "array_spacing",
    "READERS",
    "SUPPORTED_SUFFIXES",
    "VOLUME_SUFFIXES",
    "case_stem",
    "geometry_difference",
    "is_supported",
    "is_volume",
    "read_image",
    "read_images",
    "read_mask",
    "read_volume",
    "write_mask",
    "write_volume",
    "mask_output_name",
]

#: suffix -> reader family; a folder is read as a DICOM series by the "volume" family
READERS: dict[str, str] = {**{s: "raster" for s in RASTER_SUFFIXES},
                           **{s: "volume" for s in VOLUME_SUFFIXES}}
#: every suffix a reader exists for
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(READERS)
#: predicted masks for these inputs go to a single-file lossless format of the same family
_MASK_SUFFIX = {".jpg": ".png", ".jpeg": ".png", ".nhdr": ".nrrd", ".mhd": ".mha"}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def is_supported(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a suffix medunet can read."""
    return _suffix(Path(path)) in SUPPORTED_SUFFIXES


def is_volume(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is read by the volume reader (a volume suffix, or a DICOM folder)."""
    p = Path(path)
    return p.is_dir() or READERS.get(_suffix(p)) == "volume"


def case_stem(path: str | os.PathLike[str]) -> str:
    """File name without its (possibly double, e.g. ``.nii.gz``) suffix; a folder's full name."""
    p = Path(path)
    if p.is_dir():  # DICOM series folders: names like "1.2.840.1" have no suffix to drop
        return p.name
    s = _suffix(p)
    return p.name[: -len(s)] if s and p.name.lower().endswith(s) else p.stem


def _check_suffix(p: Path) -> None:
    if p.is_dir() or _suffix(p) in SUPPORTED_SUFFIXES:
        return
    if not p.exists():
        raise FileNotFoundError(f"{p}: file or DICOM series folder not found")
    if p.suffix.lower() == ".dcm":
        raise ValueError(f"{p}: a single DICOM slice; pass the folder holding the whole series")
    raise ValueError(
        f"{p}: unsupported file type {p.suffix or '(none)'!r}; expected one of "
        + ", ".join(SUPPORTED_SUFFIXES) + " or a DICOM series folder"
    )


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file as ``(C, *S)`` float32 plus its metadata.

    Parameters
    ----------
    path : path-like
        A PNG, JPEG, TIFF or BMP file, a NIfTI/NRRD/MetaImage volume, or a folder holding
        one DICOM series.

    Returns
    -------
    image : ndarray, shape (C, H, W) or (C, Z, Y, X), float32
        4D and vector files give ``C > 1``.
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
    if is_volume(p):
        vol, vmeta = read_volume(p)
        return volume_to_image(vol, vmeta), vmeta
    arr, meta = read_raster(p)
    return raster_to_image(arr, meta), meta


def read_images(paths: Sequence[str | os.PathLike[str]]) -> tuple[np.ndarray, ImageMeta]:
    """Read the channel files of one case and stack them as ``(C, *S)`` float32.

    Parameters
    ----------
    paths : sequence of path-like
        The files in channel order (``case_0000.nii.gz``, ``case_0001.nii.gz``, ...).

    Returns
    -------
    image : ndarray, shape (C, *S), float32
        ``C`` is the sum of the files' channel counts.
    meta : ImageMeta
        The first file's metadata with ``channels`` set to ``C``.

    Raises
    ------
    ValueError
        A file cannot be read, or its size or geometry differs from the first file's
        (spacing, origin and direction must agree to 1e-4 relative).
    """
    if not paths:
        raise ValueError("no image files given")
    first, meta = read_image(paths[0])
    arrays = [first]
    for path in paths[1:]:
        img, m = read_image(path)
        diff = geometry_difference(meta, m)
        if diff is not None:
            raise ValueError(f"{m.path}: channel grid differs from {meta.path.name} ({diff}); "
                             "all channels of a case must be resampled to one grid")
        arrays.append(img)
    image = np.concatenate(arrays, axis=0) if len(arrays) > 1 else first
    return image, replace(meta, channels=int(image.shape[0]))


def read_mask(path: str | os.PathLike[str], *, snap_masks: bool = True) -> tuple[np.ndarray, ImageMeta]:
    """Read a label mask as ``(*S)`` int64; binary 0/255 masks are mapped to 0/1.

    ``meta.binary_255`` records whether that mapping happened, so predictions can be
    written back the same way.

    Parameters
    ----------
    path : path-like
        A mask file (any format :func:`read_image` reads).
    snap_masks : bool
        Lossy (JPEG) masks come back with their values smeared around the levels they were
        drawn with; by default each pixel is moved to its nearest level and
        ``meta.snapped_pixels`` counts the pixels changed (see :mod:`medunet.io.snap`).
        ``False`` refuses a smeared mask instead. Lossless formats are never snapped.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, corrupt or unsupported files; colour or multi-channel masks; non-integer,
        negative or non-finite values; a smeared JPEG mask with ``snap_masks=False``.
    """
    p = Path(path)
    _check_suffix(p)
    if is_volume(p):
        arr, meta = read_volume(p)
        label_map, is_255 = volume_to_mask(arr, meta)
    else:
        arr, meta = read_raster(p)
        if is_lossy(p):
            arr, meta = snap_lossy_mask(arr, meta, snap_masks=snap_masks)
        label_map, is_255 = raster_to_mask(arr, meta)
    if is_255:
        meta = replace(meta, binary_255=True, channels=1)
    return label_map, meta


def mask_output_name(meta: ImageMeta, stem: str | None = None) -> str:
    """File name for a predicted mask: the input's stem, in a lossless format of its family.

    Volumes keep their format (``.mhd``/``.nhdr`` become single-file ``.mha``/``.nrrd``);
    DICOM series give ``<folder name>.nii.gz``; JPEG gives PNG.
    """
    src = Path(meta.path)
    stem = stem if stem is not None else case_stem(src)
    if meta.extra.get("format") == "dicom":
        return stem + ".nii.gz"
    s = _suffix(src)
    out_suffix = _MASK_SUFFIX.get(s, s) if s in SUPPORTED_SUFFIXES else ".png"
    return stem + out_suffix


def write_mask(
    label_map: np.ndarray,
    meta: ImageMeta,
    path: str | os.PathLike[str],
    *,
    binary_255: bool | None = None,
) -> Path:
    """Write a label map with the input's geometry (atomically).

    Parameters
    ----------
    label_map : ndarray, shape (*S)
        Integer labels (0..65535); must have the shape recorded in ``meta``.
    meta : ImageMeta
        Metadata of the input image the label map belongs to.
    path : path-like
        Destination file; its suffix picks the format. Volume suffixes (``.nii.gz``, ``.mha``,
        ...) are written with ``meta``'s spacing, origin and direction.
    binary_255 : bool, optional
        Store a binary mask as 0/255 (default: ``meta.binary_255``).
    """
    p = Path(path)
    if tuple(label_map.shape) != tuple(meta.shape):
        raise ValueError(
            f"{p}: mask shape {tuple(label_map.shape)} does not match the input's shape {meta.shape}"
        )
    to255 = meta.binary_255 if binary_255 is None else binary_255
    lab = np.asarray(label_map)
    if lab.size and (lab.min() < 0 or lab.max() > 65535):
        raise ValueError(f"{p}: labels must be in 0..65535, got {lab.min()}..{lab.max()}")
    if to255:
        if lab.size and lab.max() > 1:
            raise ValueError(f"{p}: cannot store labels > 1 as a 0/255 binary mask")
        out = (lab * 255).astype(np.uint8)
    else:
        out = lab.astype(np.uint8 if (not lab.size or lab.max() < 256) else np.uint16)
    if READERS.get(_suffix(p)) == "volume":
        return write_volume(out, meta, p)
    if meta.ndim != 2:
        raise ValueError(f"{p}: a {meta.ndim}D mask cannot be written as {p.suffix or 'this type'}; "
                         f"use one of {', '.join(VOLUME_SUFFIXES)}")
    return write_raster(out, p)
