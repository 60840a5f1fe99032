"""Shared fixtures: the sample datasets beside the checkout and tiny synthetic datasets."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (skipped locally when absent, a failure in CI)."""
    if not SHARED_DATA.is_dir():
        msg = f"../shared/data not present (looked in {SHARED_DATA})"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return SHARED_DATA


def _write_png(path: Path, arr: np.ndarray) -> Path:
    """Write ``arr`` (uint8/uint16, grey or RGB) as a PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def disc_case(
    rng: np.random.Generator, size: tuple[int, int], classes: int, rgb: bool
) -> tuple[np.ndarray, np.ndarray]:
    """An image (noise plus brighter concentric discs) and its label mask (the discs)."""
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
    radius = np.hypot(yy - cy, xx - cx)
    r0 = rng.uniform(0.25, 0.4) * min(h, w)
    mask = np.zeros((h, w), np.uint8)
    # class c fills the disc of radius r0 * (K - c) / (K - 1): every class is present
    for c in range(1, classes):
        mask[radius <= r0 * (classes - c) / (classes - 1)] = c
    noise = rng.integers(0, 60, size=(h, w))
    image = np.clip(noise + mask.astype(np.int64) * (150 // max(classes - 1, 1)), 0, 255).astype(np.uint8)
    if rgb:
        image = np.stack([image, image // 2, 255 - image], axis=-1)
    return image, mask


def _make_dataset(
    root: Path,
    splits: Sequence[str] | None = ("train", "val", "test"),
    n: int = 3,
    size: tuple[int, int] = (32, 40),
    classes: int = 2,
    rgb: bool = False,
    mask_255: bool = False,
    seed: int = 0,
) -> Path:
    """Write a small dataset of PNGs under ``root`` and return ``root``.

    ``splits=None`` writes the unsplit layout ``root/{images,masks}``; otherwise
    ``root/<split>/{images,masks}``. Case ``i`` of split ``s`` is ``<s>_<i:02d>.png``
    (``case_<i:02d>.png`` when unsplit) in both folders.
    """
    rng = np.random.default_rng(seed)
    folders = [(None, root)] if splits is None else [(s, root / s) for s in splits]
    for split, folder in folders:
        for i in range(n):
            image, mask = disc_case(rng, size, classes, rgb)
            stem = f"{split or 'case'}_{i:02d}"
            if mask_255:
                if classes != 2:
                    raise ValueError("mask_255 needs classes=2")
                mask = mask * 255
            _write_png(folder / "images" / f"{stem}.png", image)
            _write_png(folder / "masks" / f"{stem}.png", mask)
    return root


@pytest.fixture
def make_dataset() -> Callable[..., Path]:
    """The dataset builder: ``make_dataset(root, splits=..., n=..., size=..., classes=...)``."""
    return _make_dataset


@pytest.fixture
def write_png() -> Callable[[Path, np.ndarray], Path]:
    """``write_png(path, array)`` writes a PNG, creating parent folders."""
    return _write_png


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A valid binary dataset with train/val/test splits of 3 cases of 32x40 px."""
    return _make_dataset(tmp_path / "data")
