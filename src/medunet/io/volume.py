"""Volumes and clinical formats: NIfTI, NRRD, MetaImage and DICOM series, through SimpleITK.

Why SimpleITK rather than nibabel + pydicom: one library reads *and* writes all four families
(NIfTI ``.nii``/``.nii.gz``, NRRD ``.nrrd``/``.nhdr``, MetaImage ``.mha``/``.mhd`` and DICOM
series) with **one geometry model** (spacing, origin and direction cosines in LPS), so a mask is
written back with exactly its image's grid whatever the input format. Its GDCM-based series
reader sorts DICOM slices along the slice normal and computes the slice spacing from the
positions (pydicom alone leaves sorting, spacing, rescaling and compressed transfer syntaxes
to us), and it groups files by SeriesInstanceUID, which is what lets us refuse folders that mix
series. nibabel covers NIfTI only and pydicom cannot write geometry-carrying volumes; both stay
test-only dependencies, used as independent checks.

Layout: arrays are in SimpleITK's NumPy order, ``(Z, Y, X)`` (or ``(C, Z, Y, X)`` for 4D and
multi-component files); geometry is in SimpleITK's physical ``(x, y, z)`` order, LPS. See
:class:`~medunet.io.meta.ImageMeta`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medunet.io.dicom import read_series
from medunet.io.meta import ImageMeta
from medunet.io.nifti import check_nifti
from medunet.io.raster import integer_labels

log = logging.getLogger(__name__)

#: suffix -> format name; longest first so ``.nii.gz`` wins over ``.gz``
VOLUME_FORMATS: dict[str, str] = {
    ".nii.gz": "NIfTI", ".nii": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD",
    ".mha": "MetaImage", ".mhd": "MetaImage",
}
VOLUME_SUFFIXES: tuple[str, ...] = tuple(VOLUME_FORMATS)


def volume_suffix(path: Path) -> str | None:
    """The volume suffix of ``path`` (``".nii.gz"``, ``".mha"``, ...) or ``None``."""
    name = path.name.lower()
    return next((s for s in VOLUME_SUFFIXES if name.endswith(s)), None)


def _itk_reason(exc: BaseException) -> str:
    """The useful last line of a SimpleITK exception, on one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    last = lines[-1] if lines else exc.__class__.__name__
    return last.replace("sitk::ERROR: ", "")[:200]


def _execute(fn: Callable[[], sitk.Image], p: Path, what: str) -> sitk.Image:
    try:
        return fn()
    except RuntimeError as exc:
        raise ValueError(f"{p}: cannot read {what}; it may be truncated or corrupt ({_itk_reason(exc)})") from exc


def read_volume(path: str | os.PathLike[str]) -> tuple[np.ndarray, ImageMeta]:
    """Read a NIfTI, NRRD or MetaImage file, or a folder holding one DICOM series.

    Parameters
    ----------
    path : path-like
        A ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha`` or ``.mhd`` file, or a folder
        with the slice files of exactly one DICOM series.

    Returns
    -------
    array : ndarray
        The stored values with the file's dtype: ``(Z, Y, X)`` for one channel, ``(C, Z, Y, X)``
        for 4D or multi-component (vector) files (``(Y, X)``/``(C, Y, X)`` for 2D files).
    meta : ImageMeta
        ``shape`` is the spatial array shape; spacing/origin/direction in physical (x, y, z), LPS.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        Empty, truncated or corrupt file; unsupported suffix or pixel type; a folder with no
        DICOM series or with several (named with their file counts); NaN/Inf voxels in a
        NIfTI file (ITK 5 would silently read them as 0; other formats keep them, and
        :func:`volume_to_image` refuses them).
    """
    p = Path(path)
    if p.is_dir():
        img, extra = read_series(p)
        return _to_array(img, p, extra)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    suffix = volume_suffix(p)
    if suffix is None:
        raise ValueError(f"{p}: not a volume file; expected one of {', '.join(VOLUME_SUFFIXES)} "
                         "or a DICOM series folder")
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: file is empty (0 bytes)")
    fmt = VOLUME_FORMATS[suffix]
    if fmt == "NIfTI":
        check_nifti(p)
    img = _execute(lambda: sitk.ReadImage(str(p)), p, f"{fmt} file")
    return _to_array(img, p, {"format": fmt.lower()})


def _to_array(img: sitk.Image, p: Path, extra: dict[str, str]) -> tuple[np.ndarray, ImageMeta]:
    dim, comps = img.GetDimension(), img.GetNumberOfComponentsPerPixel()
    if dim not in (2, 3, 4) or (dim == 4 and comps > 1):
        raise ValueError(f"{p}: {dim}D image with {comps} components per voxel is not supported; "
                         "expected a 2D/3D image, a 4D image or a 3D vector image")
    arr = sitk.GetArrayFromImage(img)  # (Z, Y, X), (Z, Y, X, C) for vectors, (T, Z, Y, X) for 4D
    if comps > 1:
        arr = np.moveaxis(arr, -1, 0)
    n = dim - 1 if dim == 4 else dim
    if arr.ndim == n + 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{p}: pixel type {img.GetPixelIDTypeAsString()} is not supported; "
                         "store integer or real voxels")
    shape = tuple(int(v) for v in arr.shape[-n:])
    if min(shape) < 1:
        raise ValueError(f"{p}: image has no voxels (size {shape})")
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(dim, dim)[:n, :n]
    meta = ImageMeta(
        path=p, shape=shape, dtype=str(arr.dtype), mode="volume",
        channels=int(arr.shape[0]) if arr.ndim == n + 1 else 1,
        spacing=tuple(float(v) for v in img.GetSpacing()[:n]),
        origin=tuple(float(v) for v in img.GetOrigin()[:n]),
        direction=tuple(float(v) for v in direction.ravel()),
        extra=extra,
    )
    return arr, meta


def volume_to_image(arr: np.ndarray, meta: ImageMeta) -> np.ndarray:
    """Stored volume -> ``(C, *S)`` float32; NaN or Inf voxels are refused."""
    out = (arr[None] if arr.ndim == meta.ndim else arr).astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(f"{meta.path}: image contains {int(bad.sum())} NaN or Inf voxels; "
                         "replace them (e.g. with 0) before using the image")
    return out


def volume_to_mask(arr: np.ndarray, meta: ImageMeta) -> tuple[np.ndarray, bool]:
    """Stored volume -> ``(*S)`` int64 labels; 0/255 binary masks become 0/1.

    Returns the labels and whether the 0/255 mapping was applied.
    """
    if arr.ndim != meta.ndim:
        raise ValueError(f"{meta.path}: mask has {meta.channels} channels (shape {arr.shape}); "
                         "masks must be single-channel integer label volumes")
    return integer_labels(arr, meta)


def write_volume(
    array: np.ndarray, meta: ImageMeta, path: str | os.PathLike[str], *, compress: bool = True
) -> Path:
    """Write ``array`` with the exact grid of ``meta`` (spacing, origin, direction), atomically.

    Parameters
    ----------
    array : ndarray, shape ``meta.shape`` or ``(C, *meta.shape)``
        Values to store with their dtype (bool is stored as uint8); ``C > 1`` becomes a
        multi-component (vector) image.
    meta : ImageMeta
        Geometry to write, usually that of the input the array was computed from.
    path : path-like
        Destination; the suffix picks the format (``.nii.gz``, ``.nii``, ``.nrrd``, ``.nhdr``,
        ``.mha``, ``.mhd``). DICOM is read-only: write predictions for a series as ``.nii.gz``.
    compress : bool
        Lossless compression where the format has it (``.nii`` and ``.nii.gz`` follow the suffix).

    Returns
    -------
    Path
        ``path``. Detached data files (``.raw``, ``.zraw``) are written beside it.
    """
    p = Path(path)
    if volume_suffix(p) is None:
        raise ValueError(f"{p}: cannot write a volume with suffix {p.suffix or '(none)'!r}; use one of "
                         f"{', '.join(VOLUME_SUFFIXES)} (DICOM input: write .nii.gz)")
    arr = np.asarray(array)
    spatial = tuple(meta.shape)
    vector = arr.ndim == len(spatial) + 1 and tuple(arr.shape[1:]) == spatial and arr.shape[0] > 1
    if tuple(arr.shape) != spatial and not vector:
        raise ValueError(f"{p}: array shape {arr.shape} does not match the input's shape {spatial} "
                         "(or (C, *shape))")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(arr, 0, -1) if vector else arr),
                                 isVector=vector)
    if meta.spacing:
        if len(meta.spacing) != img.GetDimension():
            raise ValueError(f"{p}: geometry of {meta.path} is {len(meta.spacing)}D, array is "
                             f"{img.GetDimension()}D")
        img.SetSpacing(meta.spacing)
        img.SetOrigin(meta.origin)
        img.SetDirection(meta.direction)
    p.parent.mkdir(parents=True, exist_ok=True)
    # a private folder beside the target keeps the final names inside headers (.mhd -> .raw)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=p.parent))
    try:
        sitk.WriteImage(img, str(tmp / p.name), compress)
        # data files first, the header last: a reader never sees a header without its data
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == p.name):
            os.replace(f, p.parent / f.name)
    except RuntimeError as exc:
        raise ValueError(f"{p}: cannot write ({_itk_reason(exc)})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p
