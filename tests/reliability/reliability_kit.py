"""Helpers of the reliability tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from medunet.config import Config

#: options that keep every training run in these tests to a second or two on a CPU
TINY_SETS = ("model.base_width=4", "model.depth=3", "train.batch_size=2", 'train.device="cpu"',
             "train.iterations_per_epoch=3", "train.lr=0.01")


class PicklePayload:
    """Pickles to a call of ``os.system``: loading it must never run the command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"echo pwned > {self.marker}",))


def disc_pair(rng: np.random.Generator, size: tuple[int, int] = (16, 16)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy grey image with a bright disc, and its 0/1 mask."""
    yy, xx = np.mgrid[: size[0], : size[1]]
    cy, cx = rng.integers(4, size[0] - 4), rng.integers(4, size[1] - 4)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 9).astype(np.uint8)
    img = np.clip(60 + 120 * mask + rng.normal(0, 15, size), 0, 255).astype(np.uint8)
    return img, mask


def write_dataset(root: Path, splits: dict[str, int] | None = None, size: tuple[int, int] = (16, 16),
                  seed: int = 0) -> Path:
    """``root/<split>/{images,masks}/cNN.png``: a valid binary dataset (masks stored 0/1)."""
    rng = np.random.default_rng(seed)
    for split, n in (splits or {"train": 4, "val": 2, "test": 2}).items():
        for d in ("images", "masks"):
            (root / split / d).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, mask = disc_pair(rng, size)
            Image.fromarray(img).save(root / split / "images" / f"c{i:02d}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"c{i:02d}.png")
    return root


def tiny_config(data: Path, out: Path, *sets: str) -> Config:
    """A tiny CPU training configuration (``sets`` override it)."""
    base = [f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}", "train.epochs=2"]
    return Config().override([*base, *TINY_SETS, *sets])


def tiny_train_args(data: Path, out: Path, *extra: str) -> list[str]:
    """``medunet train`` arguments for a tiny CPU run."""
    args = ["train", str(data), "--out", str(out), "--quiet", "--epochs", "2"]
    for s in TINY_SETS:
        args += ["--set", s]
    return args + list(extra)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if "error:" in ln]


