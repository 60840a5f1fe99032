"""Writing predictions: masks in the input's geometry, probability maps, overlay PNGs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medunet.io import ImageMeta, case_stem, mask_output_name, write_mask
from medunet.io.raster import write_raster

#: overlay colours per foreground class (RGB)
PALETTE = np.array([[0, 0, 0], [255, 64, 64], [64, 200, 64], [64, 128, 255], [255, 200, 0],
                    [200, 64, 255], [0, 220, 220]], dtype=np.float32)


def safe_output_path(out_dir: Path, name: str) -> Path:
    """``out_dir / name`` refusing names that would escape ``out_dir``."""
    base = Path(os.path.basename(name.replace("\\", "/")))
    if base.name in ("", ".", "..") or base.name != name.replace("\\", "/").split("/")[-1]:
        raise ValueError(f"{name!r}: not a safe output file name")
    target = (out_dir / base.name).resolve()
    if target.parent != out_dir.resolve():
        raise ValueError(f"{name!r}: output would escape {out_dir}")
    return target


def overlay_rgb(image: np.ndarray, labels: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """``(H, W, 3)`` uint8: the image in grey (or RGB) with class fills and boundaries."""
    img = image[:3] if image.shape[0] >= 3 else np.repeat(image[:1], 3, axis=0)
    lo, hi = np.percentile(img, (1, 99))
    base = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).transpose(1, 2, 0) * 255
    colours = PALETTE[1 + (labels - 1) % (len(PALETTE) - 1)]
    fg = (labels > 0)[..., None]
    out = np.where(fg, (1 - alpha) * base + alpha * colours, base)
    edge = np.zeros_like(labels, dtype=bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge &= labels > 0
    out[edge] = colours[edge]
    return out.astype(np.uint8)


def write_prediction(probs: np.ndarray, image: np.ndarray, meta: ImageMeta, out_dir: Path,
                     binary_255: bool, *, probabilities: bool = False, overlays: bool = False,
                     stem: str | None = None) -> Path:
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
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = probs.argmax(axis=0)
    stem = stem if stem is not None else case_stem(meta.path)
    mask_path = safe_output_path(out_dir, mask_output_name(meta, stem))
    write_mask(labels, meta, mask_path, binary_255=binary_255 and probs.shape[0] == 2)
    if probabilities:
        target = safe_output_path(out_dir, f"{stem}_probs.npz")
        tmp = target.with_name(f".tmp-{target.name}")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, probabilities=probs.astype(np.float16))
        os.replace(tmp, target)
    if overlays:
        if labels.ndim == 3:  # a volume: the axial slice through the predicted structure
            fg = np.argwhere(labels > 0)
            z = int(np.round(fg[:, 0].mean())) if len(fg) else labels.shape[0] // 2
            image, labels = image[:, z], labels[z]
        write_raster(overlay_rgb(image, labels), safe_output_path(out_dir, f"{stem}_overlay.png"))
    return mask_path
