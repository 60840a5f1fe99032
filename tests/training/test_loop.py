"""The epoch loop's contracts: typed log rows (``log.csv``, checkpoint, ``on_epoch`` agree), stop
reasons as ``Literal`` values with their words, and ``train_one_epoch`` over a ``Run``."""

from __future__ import annotations

import csv
import json
import math
import threading
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch
from PIL import Image

import medunet.training.loop as loop
from medunet.checkpoint import load_checkpoint
from medunet.config import Config
from medunet.evaluation.arrays import Evaluation
from medunet.training import Callbacks, LogRow, StopReason, stop_message, train
from medunet.training.loop import train_one_epoch
from medunet.training.run_dir import read_log
from medunet.training.setup import setup_run

COLUMNS = ["epoch", "train_loss", "val_dice_fg", "val_dice_fg_case_present", "val_dice_class_1",
           "val_dice_class_2", "lr", "skipped_steps", "seconds", "elapsed"]


def _config(data: Path, out: Path, *sets: str) -> Config:
    return Config().override([f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}",
                              "model.base_width=4", "model.depth=3", "train.batch_size=2",
                              'train.device="cpu"', "train.iterations_per_epoch=3", "train.epochs=2",
                              "train.lr=0.02", *sets])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes (nested rectangles) in every case: train 4, val 2 cases of 24x28 px."""
    root = tmp_path_factory.mktemp("loop") / "data"
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for d in ("images", "masks"):
            (root / split / d).mkdir(parents=True)
        for i in range(n):
            mask = np.zeros((24, 28), np.uint8)
            y, x = rng.integers(2, 8, size=2)
            mask[y:y + 12, x:x + 14] = 1
            mask[y + 3:y + 8, x + 3:x + 9] = 2
            img = np.clip(70 * mask + rng.integers(0, 60, mask.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / "images" / f"c{i}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"c{i}.png")
    return root


def _row(**changes: object) -> LogRow:
    values: dict[str, object] = dict(epoch=3, train_loss=0.75, val_dice_fg=0.5, val_dice_fg_case_present=0.25,
                                     val_dice={"liver": 0.125, "tumour": 0.0625}, lr=1e-3, skipped_steps=2,
                                     seconds=1.5, elapsed=4.5)
    return LogRow(**{**values, **changes})  # type: ignore[arg-type]


def test_log_row_columns_round_trip_in_file_order() -> None:
    row = _row()
    cols = row.to_columns()
    assert list(cols) == ["epoch", "train_loss", "val_dice_fg", "val_dice_fg_case_present", "val_dice_liver",
                          "val_dice_tumour", "lr", "skipped_steps", "seconds", "elapsed"]
    assert cols["val_dice_tumour"] == 0.0625 and cols["skipped_steps"] == 2
    assert LogRow.from_columns(cols) == row
    as_csv = {k: str(v) for k, v in cols.items()}  # what csv.DictReader gives back
    assert LogRow.from_columns(as_csv) == row


def test_log_row_from_an_older_run_and_a_broken_one() -> None:
    old = {"epoch": 1, "train_loss": 0.5, "val_dice_fg": 0.25, "val_dice_a": 0.25, "lr": 0.01,
           "seconds": 2.0, "elapsed": 2.0}
    row = LogRow.from_columns(old)
    assert math.isnan(row.val_dice_fg_case_present) and row.skipped_steps == 0
    assert row.val_dice == {"a": 0.25}
    with pytest.raises(ValueError, match="val_dice_fg"):
        LogRow.from_columns({"epoch": 1, "train_loss": 0.5, "lr": 0.01})


def test_every_stop_reason_has_its_own_words() -> None:
    reasons = get_args(StopReason)
    assert set(reasons) == {"epochs_done", "time_budget", "early_stopping", "interrupted", "diverged"}
    words = {stop_message(r, patience=4) for r in reasons}
    assert len(words) == len(reasons) and "" not in words
    assert stop_message("early_stopping", patience=4) == "early stopping: no improvement for 4 epochs"
    assert stop_message("epochs_done") == "epochs done"


def test_log_csv_checkpoint_and_on_epoch_carry_the_same_rows(data: Path, tmp_path: Path) -> None:
    seen: list[LogRow] = []
    result = train(_config(data, tmp_path / "run"), callbacks=Callbacks(on_epoch=seen.append))
    assert result.stopped == "epochs_done" and result.epochs == 2
    assert [type(r) for r in seen] == [LogRow, LogRow] and [r.epoch for r in seen] == [1, 2]
    assert set(seen[0].val_dice) == {"class_1", "class_2"}
    with open(tmp_path / "run" / "log.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        file_rows = list(reader)
    assert [{k: str(v) for k, v in r.to_columns().items()} for r in seen] == file_rows
    assert read_log(tmp_path / "run" / "log.csv") == seen
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")  # weights_only: plain data only
    assert ckpt["log"] == [r.to_columns() for r in seen]
    assert {type(v) for c in ckpt["log"] for v in c.values()} == {int, float}
    best = max(seen, key=lambda r: r.val_dice_fg)
    assert (result.best_epoch, result.best_metric) == (best.epoch, best.val_dice_fg)
    assert isinstance(result.validation, Evaluation)
    assert result.validation.to_dict()["pooled"]["foreground_dice"] == pytest.approx(best.val_dice_fg)


def test_early_stopping_is_reported_as_such(data: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    scores = iter([0.5, 0.4, 0.45, 0.9])
    monkeypatch.setattr(loop, "val_row", lambda ev: {"val_dice_fg": next(scores),
                                                     "val_dice_fg_case_present": 0.5})
    result = train(_config(data, tmp_path / "run", "train.epochs=9", "train.patience=2"))
    assert result.stopped == "early_stopping" and result.epochs == 3 and result.best_epoch == 1
    card = (tmp_path / "run" / "model_card.md").read_text()
    assert "Epochs run: 3 of at most 9; stopped: early stopping: no improvement for 2 epochs" in card
    assert [r.val_dice_fg for r in read_log(tmp_path / "run" / "log.csv")] == [0.5, 0.4, 0.45]


def test_a_spent_time_budget_is_reported_as_such(data: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "_seconds_since", lambda t0: 3600.0)  # every epoch looks an hour long
    result = train(_config(data, tmp_path / "run", "train.time_budget=1"))
    assert result.stopped == "time_budget" and result.epochs == 1
    assert load_checkpoint(tmp_path / "run" / "last.pt")["state"]["step"] == 0
    assert "stopped: time budget spent" in (tmp_path / "run" / "model_card.md").read_text()


def test_train_one_epoch_works_on_the_run(data: Path, tmp_path: Path) -> None:
    run, _ = setup_run(_config(data, tmp_path / "run"), resume=False, overwrite=False)
    steps: list[tuple[int, int, int]] = []
    callbacks = Callbacks(on_step=lambda e, i, n, loss: steps.append((e, i, n)))
    stop = threading.Event()
    assert train_one_epoch(run, stop, callbacks, lambda: 0.0) is None
    assert steps == [(0, 1, 3), (0, 2, 3), (0, 3, 3)]
    assert (run.state.iteration, run.state.step) == (3, 3) and run.state.loss_sum > 0
    run.state.iteration = 0
    stop.set()
    assert train_one_epoch(run, stop, callbacks, lambda: 0.0) == "interrupted"
    assert (run.state.iteration, run.state.step) == (1, 4)


def test_train_one_epoch_stops_on_the_clock_before_a_step(data: Path, tmp_path: Path) -> None:
    run, _ = setup_run(_config(data, tmp_path / "run", "train.time_budget=0.5"), resume=False,
                       overwrite=False)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    assert train_one_epoch(run, threading.Event(), Callbacks(), lambda: 30.0) == "time_budget"
    assert (run.state.iteration, run.state.step) == (0, 0)
    assert all(torch.equal(before[k], v) for k, v in run.model.state_dict().items())


def test_curves_plot_every_series_of_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    import medunet.report.figures as figures

    drawn: list[object] = []
    monkeypatch.setattr(figures, "_to_png", lambda fig: drawn.append(fig) or b"png")
    rows = [_row(epoch=1, val_dice_fg_case_present=math.nan), _row(epoch=2, train_loss=0.5)]
    assert figures.curves_figure(rows) == b"png"
    ax_loss, ax_dice = drawn[0].axes  # type: ignore[attr-defined]
    loss = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax_loss.lines}
    dice = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax_dice.lines}
    assert loss == {"train_loss": ([1.0, 2.0], [0.75, 0.5])}
    assert dice == {"val_dice_fg": ([1.0, 2.0], [0.5, 0.5]),
                    "val_dice_fg_case_present": ([2.0], [0.25]),  # NaN left out
                    "val_dice_liver": ([1.0, 2.0], [0.125, 0.125]),
                    "val_dice_tumour": ([1.0, 2.0], [0.0625, 0.0625])}
