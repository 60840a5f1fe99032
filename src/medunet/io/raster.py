"""2D raster images: PNG, JPEG, TIFF and BMP (grey, RGB, RGBA; 8 or 16 bit)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from medunet.io.atomic import atomic_path
from medunet.io.meta import ImageMeta

log = logging.getLogger(__name__)

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_TIFF = (".tif", ".tiff")


class _Refused(ValueError):
    """A readable file we refuse (multi-page); its message already names the file."""


def _read_tiff(path: Path) -> np.ndarray:
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) > 1 and not (len(tif.series) == 1 and tif.series[0].ndim == 3
                                           and tif.series[0].shape[-1] in (3, 4)):
                raise _Refused(
                    f"{path}: multi-page TIFF with {len(tif.pages)} pages is not supported; "
                    "save one 2D image per file (3D stacks: use NIfTI)"
                )
            arr = tif.pages[0].asarray()
    except _Refused:
        raise
    except Exception as exc:  # tifffile raises many types (TiffFileError is a ValueError) on corrupt input
        raise ValueError(f"{path}: cannot read TIFF ({exc.__class__.__name__}: {exc})") from exc
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)
    return arr


def _read_pil(path: Path) -> tuple[np.ndarray, str]:
    try:
        with Image.open(path) as im:
            n_frames = getattr(im, "n_frames", 1)
            if n_frames > 1:
                raise _Refused(
                    f"{path}: image has {n_frames} frames; only single-frame 2D images are supported"
                )
            im.load()
            mode = im.mode
            if mode == "P":
                # palette images: labels are the palette indices, images are converted to RGB
                arr = np.asarray(im)
                return arr, "P"
            if mode in ("1",):
                return np.asarray(im.convert("L")), "L"
            if mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im).astype(np.uint16), "L"
            if mode in ("CMYK", "YCbCr"):
                return np.asarray(im.convert("RGB")), "RGB"
            return np.asarray(im), mode
    except _Refused:
        raise
    # libraries raise bare ValueErrors on corrupt files ("invalid palette size"): name the file
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from exc


def read_raster(path: str | os.PathLike[str]) -> tuple[np.ndarray, ImageMeta]:
    """Read a 2D raster file as stored.

    Returns
    -------
    array : ndarray
        ``(H, W)`` or ``(H, W, C)`` with the file's own dtype.
    meta : ImageMeta

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is empty, corrupt, multi-page, or not 2D.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: file is empty (0 bytes)")
    if p.suffix.lower() in _TIFF:
        arr = _read_tiff(p)
        mode = "L" if arr.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}.get(arr.shape[-1], "?")
    else:
        arr, mode = _read_pil(p)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        raise ValueError(f"{p}: expected a 2D grey or RGB(A) image, got array shape {arr.shape}")
    if min(arr.shape[:2]) < 1:
        raise ValueError(f"{p}: image has no pixels (shape {arr.shape})")
    channels = 1 if arr.ndim == 2 else arr.shape[-1]
    if mode in ("RGBA", "LA"):
        channels -= 1
    meta = ImageMeta(
        path=p,
        shape=(int(arr.shape[0]), int(arr.shape[1])),
        dtype=str(arr.dtype),
        mode=mode,
        channels=channels,
        spacing=(1.0, 1.0),
        origin=(0.0, 0.0),
        direction=(1.0, 0.0, 0.0, 1.0),
    )
    return arr, meta


def raster_to_image(arr: np.ndarray, meta: ImageMeta) -> np.ndarray:
    """Stored raster -> ``(C, H, W)`` float32 (alpha dropped, palette images as grey indices)."""
    a = arr
    if a.ndim == 2:
        a = a[None]
    else:
        a = np.moveaxis(a, -1, 0)
        if meta.mode in ("RGBA", "LA"):
            a = a[:-1]
    out = a.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{meta.path}: image contains NaN or Inf values")
    return out


def raster_to_mask(arr: np.ndarray, meta: ImageMeta) -> tuple[np.ndarray, bool]:
    """Stored raster -> ``(H, W)`` int64 labels; 0/255 binary masks become 0/1.

    Returns the labels and whether the 0/255 mapping was applied.
    """
    a = arr
    if a.ndim == 3:
        chans = a[..., :3] if a.shape[-1] >= 3 else a[..., :1]
        if not all(np.array_equal(chans[..., 0], chans[..., i]) for i in range(1, chans.shape[-1])):
            raise ValueError(
                f"{meta.path}: mask is a colour image with differing channels; "
                "save masks as single-channel integer label images (0 = background, 1..K-1)"
            )
        a = chans[..., 0]
    return integer_labels(a, meta)


def integer_labels(a: np.ndarray, meta: ImageMeta) -> tuple[np.ndarray, bool]:
    """Single-channel stored mask (any format) -> int64 labels; 0/255 binary masks become 0/1.

    Float masks must hold whole, finite values; negative values are refused. Returns the labels
    and whether the 0/255 mapping was applied.
    """
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError(f"{meta.path}: mask contains NaN or Inf values; masks must hold integer labels")
        if not np.array_equal(a, np.round(a)):
            raise ValueError(
                f"{meta.path}: mask holds non-integer values (float dtype {a.dtype}); "
                "masks must hold integer labels 0..K-1"
            )
        if a.size and float(np.abs(a).max()) >= 2**31:  # beyond what an int64 cast keeps sane
            raise ValueError(f"{meta.path}: mask values reach {float(np.abs(a).max()):g}; "
                             "masks must hold integer labels 0..K-1")
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    labels = a.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{meta.path}: mask holds negative values (min {labels.min()}); labels must be >= 0")
    values = np.unique(labels)
    is_255 = bool(values.size and values[-1] == 255 and np.isin(values, (0, 255)).all())
    if is_255:
        labels = (labels == 255).astype(np.int64)
    return labels, is_255


def write_raster(arr: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a 2D array (``uint8``/``uint16``, grey or RGB) atomically; format from the suffix."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        if p.suffix.lower() in _TIFF:
            tifffile.imwrite(tmp, arr)
        else:
            Image.fromarray(arr).save(tmp, format=_pil_format(p))
    return p


def _pil_format(p: Path) -> str:
    s = p.suffix.lower()
    return {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(s, "PNG")
