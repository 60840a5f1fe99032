"""Writing predictions: masks in the input's geometry, probability maps, uncertainty maps,
overlay PNGs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medunet.inference.postprocess import Postprocessing, to_labels
from medunet.io import (
    VOLUME_SUFFIXES,
    ImageMeta,
    case_stem,
    mask_output_name,
    write_mask,
    write_volume,
)
from medunet.io.atomic import atomic_path
from medunet.io.meta import UNCERTAINTY_SUFFIX, array_spacing
from medunet.io.raster import write_raster

#: overlay colours per foreground class (RGB)
PALETTE = np.array([[0, 0, 0], [255, 64, 64], [64, 200, 64], [64, 128, 255], [255, 200, 0],
                    [200, 64, 255], [0, 220, 220]], dtype=np.float32)
#: an uncertainty map is named ``<stem>_uncertainty.<ext>`` beside the mask ``<stem>.<ext>``


@dataclass(frozen=True)
class CasePrediction:
    """What was written for one case.

    Parameters
    ----------
    case_id : str
        The case's stem (the mask's file name without its suffix).
    mask : Path
        The predicted label mask.
    uncertainty : Path, optional
        The uncertainty map (:func:`write_uncertainty`), when one was asked for.
    uncertainty_score : float, optional
        The case's uncertainty score (:class:`medunet.inference.uncertainty.Uncertainty`),
        when a map was asked for.
    """

    case_id: str
    mask: Path
    uncertainty: Path | None = None
    uncertainty_score: float | None = None


def check_output_name(name: str) -> None:
    """Refuse a name that is not one plain file name (``ValueError``)."""
    if (name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name
            or os.path.isabs(name)):
        raise ValueError(f"{name!r}: not a safe output file name (expected a plain file name)")


def safe_output_path(out_dir: Path, name: str) -> Path:
    """``out_dir / name`` for a plain file name; anything that could land elsewhere is refused.

    Names come from input files (stems, DICOM folder names), so they are untrusted: a path
    separator, ``..``, an absolute path, a NUL byte or an empty name raises instead of being
    "cleaned" (two inputs must never be silently written to the same file).

    Raises
    ------
    ValueError
        ``name`` is not a single plain file name, or would resolve outside ``out_dir``
        (e.g. through a symbolic link of that name).
    """
    check_output_name(name)
    target = (out_dir / name).resolve()
    if target.parent != out_dir.resolve():
        raise ValueError(f"{name!r}: output would escape {out_dir}")
    return target


def overlay_rgb(image: np.ndarray, label_map: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """The image in grey (or its first three channels as RGB) with class fills and boundaries.

    Parameters
    ----------
    image : ndarray, shape (C, H, W)
        Raw intensities; shown between their 1st and 99th percentile.
    label_map : ndarray, shape (H, W)
        Integer labels; class ``c > 0`` is filled with ``PALETTE[1 + (c - 1) % 6]``.
    alpha : float
        Opacity of the class fill (boundaries are opaque).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
    """
    img = image[:3] if image.shape[0] >= 3 else np.repeat(image[:1], 3, axis=0)
    lo, hi = np.percentile(img, (1, 99))
    base = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0) * 255
    colours = PALETTE[1 + (label_map - 1) % (len(PALETTE) - 1)]
    fg = (label_map > 0)[..., None]
    out = np.where(fg, (1 - alpha) * base + alpha * colours, base)
    edge = np.zeros_like(label_map, dtype=bool)
    edge[1:, :] |= label_map[1:, :] != label_map[:-1, :]
    edge[:, 1:] |= label_map[:, 1:] != label_map[:, :-1]
    edge &= label_map > 0
    out[edge] = colours[edge]
    return out.astype(np.uint8)


def write_prediction(probs: np.ndarray, image: np.ndarray, meta: ImageMeta, out_dir: Path,
                     binary_255: bool, *, probabilities: bool = False, overlays: bool = False,
                     stem: str | None = None, post: Postprocessing | None = None) -> Path:
    """Write ``<stem>.<ext>`` (and ``<stem>_probs.npz``, ``<stem>_overlay.png``) for one input.

    Parameters
    ----------
    probs : ndarray, shape (K, *S)
    image : ndarray, shape (C, *S)
        Raw image (for the overlay).
    meta : ImageMeta
        Geometry of the input.
    binary_255 : bool
        Write binary masks as 0/255 (the training masks were stored that way).
    stem : str, optional
        Output name stem (default: the input file's).
    post : Postprocessing, optional
        The run's post-processing (:mod:`medunet.inference.postprocess`); ``None``: argmax.
    """
    label_map = to_labels(probs, post, array_spacing(meta))
    stem = stem if stem is not None else case_stem(meta.path)
    mask_path = safe_output_path(out_dir, mask_output_name(meta, stem))
    out_dir.mkdir(parents=True, exist_ok=True)
    with _naming(mask_path):
        write_mask(label_map, meta, mask_path, binary_255=binary_255 and probs.shape[0] == 2)
    if probabilities:
        target = safe_output_path(out_dir, f"{stem}_probs.npz")
        with _naming(target), atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, probabilities=probs.astype(np.float16))
    if overlays:
        if label_map.ndim == 3:  # a volume: the axial slice through the predicted structure
            fg = np.argwhere(label_map > 0)
            z = int(np.round(fg[:, 0].mean())) if len(fg) else label_map.shape[0] // 2
            image, label_map = image[:, z], label_map[z]
        target = safe_output_path(out_dir, f"{stem}_overlay.png")
        with _naming(target):
            write_raster(overlay_rgb(image, label_map), target)
    return mask_path


def uncertainty_output_name(meta: ImageMeta, stem: str | None = None) -> str:
    """``<stem>_uncertainty`` in the mask's volume format, or ``.tif`` for 2D rasters (float32)."""
    name = mask_output_name(meta, (stem if stem is not None else case_stem(meta.path)) + UNCERTAINTY_SUFFIX)
    if name.lower().endswith(VOLUME_SUFFIXES):
        return name
    return name[: -len(Path(name).suffix)] + ".tif"


def is_uncertainty_map(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named like an uncertainty map (so a mask folder can skip it)."""
    return case_stem(path).endswith(UNCERTAINTY_SUFFIX)


def write_uncertainty(entropy: np.ndarray, meta: ImageMeta, out_dir: Path,
                      stem: str | None = None) -> Path:
    """Write an uncertainty map as float32 beside the mask, atomically.

    Parameters
    ----------
    entropy : ndarray, shape (*S)
        Per-voxel values in [0, 1] (:class:`medunet.inference.uncertainty.Uncertainty`).
    meta : ImageMeta
        Geometry of the input: volumes are written in the mask's format with its spacing,
        origin and direction, 2D rasters as a float32 TIFF.
    out_dir : Path
    stem : str, optional
        Output name stem (default: the input file's); the file is ``<stem>_uncertainty.<ext>``.

    Raises
    ------
    ValueError
        ``entropy`` does not have the input's shape, or the name is not a safe file name.
    """
    target = safe_output_path(out_dir, uncertainty_output_name(meta, stem))
    values = np.asarray(entropy, dtype=np.float32)
    if values.shape != tuple(meta.shape):
        raise ValueError(f"{target}: uncertainty map shape {values.shape} does not match the "
                         f"input's shape {tuple(meta.shape)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with _naming(target):
        if target.name.lower().endswith(VOLUME_SUFFIXES):
            return write_volume(values, meta, target)
        return write_raster(values, target)


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Give an OSError without a file name (a full disk inside an image library) the output's."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, f"cannot write ({exc.strerror or exc})", str(path)) from exc
