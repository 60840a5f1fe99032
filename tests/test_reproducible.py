"""Same seed on the CPU -> same numbers: the training log and the validation metrics of two runs
are identical (timings aside); another seed gives other numbers. (``--folds 2``: see
``tests/training/test_folds.py``.)"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.config import Config
from medunet.training import train
from medunet.training.run_dir import read_log


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repro") / "data"
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:24, :24]
    for split, n in (("train", 4), ("val", 2)):
        for folder in ("images", "masks"):
            (root / split / folder).mkdir(parents=True)
        for i in range(n):
            cy, cx, r = rng.integers(8, 16), rng.integers(8, 16), rng.integers(3, 6)
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
            img = np.clip(60 + 120 * mask + rng.normal(0, 20, mask.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / "images" / f"c{i}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"c{i}.png")
    return root


def _run(data: Path, out: Path, seed: int) -> dict[str, object]:
    """Train a tiny run; return its log without timings and its validation metrics."""
    sets = [f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}", "model.base_width=4",
            "model.depth=2", "train.batch_size=2", 'train.device="cpu"', "train.iterations_per_epoch=3",
            "train.epochs=2", "train.lr=0.01", f"train.seed={seed}"]
    train(Config().override(sets))
    metrics = json.loads((out / "metrics.json").read_text())
    return {"log": [replace(r, seconds=0.0, elapsed=0.0) for r in read_log(out / "log.csv")],
            "pooled": metrics["pooled"], "per_case": metrics["per_case"]}


def test_same_seed_same_log_and_metrics_other_seed_differs(data: Path, tmp_path: Path) -> None:
    first = _run(data, tmp_path / "a", seed=7)
    assert _run(data, tmp_path / "b", seed=7) == first
    other = _run(data, tmp_path / "c", seed=8)
    assert [r.train_loss for r in other["log"]] != [r.train_loss for r in first["log"]]
