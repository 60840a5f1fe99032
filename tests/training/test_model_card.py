"""``model_card.md``: written at the end of a real tiny training run, with every section."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medunet.config import Config
from medunet.data.check import check_dataset
from medunet.plan import Plan
from medunet.training import train
from medunet.training.model_card import data_facts, infer_stop_reason, render_model_card
from medunet.training.state import LogRow, stop_message

SECTIONS = ["## Intended use and limitations", "## Data", "## Plan", "## Training", "## Validation metrics"]


def _config(data: Path, out: Path, *sets: str) -> Config:
    return Config().override([f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}",
                              "model.base_width=4", "model.depth=3", "train.batch_size=4",
                              'train.device="cpu"', "train.iterations_per_epoch=4", "train.epochs=2",
                              "train.lr=0.01", *sets])


def _row(epoch: int, dice: float, elapsed: float) -> LogRow:
    return LogRow(epoch=epoch, train_loss=1.0, val_dice_fg=dice, val_dice_fg_case_present=dice,
                  val_dice={"a": dice}, lr=1e-3, skipped_steps=0, seconds=elapsed / epoch, elapsed=elapsed)


def _dataset(root: Path) -> Path:
    """4 cases of 32x40 px per split, 3 classes (nested squares)."""
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for d in ("images", "masks"):
            (root / split / d).mkdir(parents=True)
        for i in range(4):
            mask = np.zeros((32, 40), np.uint8)
            y, x = rng.integers(2, 12, size=2)
            mask[y:y + 18, x:x + 20] = 1
            mask[y + 5:y + 12, x + 5:x + 13] = 2
            img = np.clip(70 * mask + rng.integers(0, 60, mask.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / "images" / f"c{i}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"c{i}.png")
    return root


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("card")
    data = _dataset(root / "data")
    train(_config(data, root / "run"))
    return data, root / "run", (root / "run" / "model_card.md").read_text()


def test_card_has_every_section_in_order(card: tuple[Path, Path, str]) -> None:
    _, _, text = card
    assert text.startswith("# Model card: run\n")
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions)


def test_card_content(card: tuple[Path, Path, str]) -> None:
    data, _, text = card
    assert "not for clinical use" in text.lower() and "research use only" in text.lower()
    assert f"`{data}`" in text
    assert "train 4 cases, val 4 cases, test 4 cases" in text
    assert "train 4 cases, validation 4 cases" in text
    assert "32x40" in text
    for label in ("| 0 | background |", "| 1 | class_1 |", "| 2 | class_2 |"):
        assert label in text
    assert re.search(r"\| 1 \| class_1 \| \d+\.\d\d % \|", text)
    assert "depth 3, widths [4, 8, 16]" in text and "parameters" in text
    assert "Epochs run: 2 of at most 2; stopped: epochs done" in text
    assert f"torch {torch.__version__}" in text and "Device: cpu; hardware: CPU " in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| class_")]
    assert len(rows) == 2 and all(re.search(r"\| \d\.\d{4} \| \d\.\d{4} ± \d\.\d{4} \|", r) for r in rows)
    assert "Foreground Dice: pooled" in text


def test_card_from_the_dataset_summary(card: tuple[Path, Path, str]) -> None:
    data, run, _ = card
    cfg = _config(data, run)
    plan = Plan.from_dict(json.loads((run / "plan.json").read_text()))
    facts = data_facts(cfg, {"train": 4, "validation": 4}, [], check_dataset(data))
    text = render_model_card(run.name, cfg, plan, facts, [_row(1, 0.5, 3.0)],
                             None, stopped="time_budget", device=torch.device("cpu"), n_params=10,
                             names=["background", "a", "b"])
    assert "pixel share (all splits)" in text and "Image sizes (all splits, with counts): 32x40 (12)" in text and "stopped: time budget spent" in text
    assert "| a | – | – ± – |" in text


@pytest.mark.parametrize(("sets", "rows", "reason", "expected"), [
    (["train.epochs=3"], [0.1, 0.2, 0.3], "epochs_done", "epochs done"),
    (["train.time_budget=0.1"], [0.1, 0.2], "time_budget", "time budget spent"),
    (["train.patience=2"], [0.5, 0.4, 0.45], "early_stopping", "early stopping: no improvement for 2 epochs"),
    (["train.patience=2"], [0.4, 0.5, 0.45], None, "stopped early (see the training log)"),
    ([], [0.1], None, "stopped early (see the training log)"),
])
def test_infer_stop_reason(tmp_path: Path, sets: list[str], rows: list[float], reason: str | None,
                           expected: str) -> None:
    cfg = _config(tmp_path, tmp_path / "r", *sets, *([] if "train.epochs=3" in sets else ["train.epochs=9"]))
    log = [_row(i + 1, d, 6.0 * (i + 1)) for i, d in enumerate(rows)]
    assert infer_stop_reason(cfg, log) == reason
    assert stop_message(infer_stop_reason(cfg, log), cfg.train.patience) == expected
