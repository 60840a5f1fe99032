"""Numerical faults: a NaN/Inf loss skips its step and is counted; five in a row stop training
with a clear message (exit code 3) and the last good checkpoint intact."""

from __future__ import annotations

import csv
from collections.abc import Callable, Container
from pathlib import Path

import pytest
import torch
from reliability_kit import CliResult, tiny_config, tiny_train_args

import medunet.training.loop as train_module
from medunet.checkpoint import load_checkpoint
from medunet.training import train
from medunet.training.loop import MAX_BAD_STEPS


def _nan_loss_on(monkeypatch: pytest.MonkeyPatch, bad: Container[int]) -> None:
    """Make the training loss NaN on the given (0-based) calls."""
    real = train_module.loss_for
    calls = [0]

    def loss_for(name: str, batch_dice: bool = True) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        inner = real(name, batch_dice)

        def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            n, calls[0] = calls[0], calls[0] + 1
            value = inner(logits, target)
            return value * float("nan") if n in bad else value

        return loss

    monkeypatch.setattr(train_module, "loss_for", loss_for)


def test_non_finite_steps_are_skipped_and_counted(tiny_data: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _nan_loss_on(monkeypatch, {1, 2, 4})  # never MAX_BAD_STEPS in a row
    summary = train(tiny_config(tiny_data, tmp_path / "run"))
    assert summary.stopped == "epochs_done" and summary.skipped_steps == 3
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["state"]["skipped_steps"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    with open(tmp_path / "run" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["skipped_steps"]) for r in rows] == [2, 3]  # cumulative, per epoch


def test_five_in_a_row_stop_with_exit_3_and_keep_the_last_good_checkpoint(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    # epoch 1 (3 steps) is fine; from then on every loss is NaN: epoch 2 skips all its steps,
    # epoch 3 reaches five in a row at its second step (the count carries over epochs)
    _nan_loss_on(monkeypatch, range(3, 1000))
    run = tmp_path / "run"
    res = cli(tiny_train_args(tiny_data, run, "--epochs", "4"))
    assert res.code == 3 and "Traceback" not in res.err
    assert res.error_lines == [
        f"error: training stopped: {MAX_BAD_STEPS} non-finite (NaN/Inf) losses in a row at epoch 3, "
        f"step 2 (5 step(s) skipped in all); {run / 'last.pt'} keeps the last good epoch (2). Try a "
        "lower learning rate (--lr 0.001), --set train.amp=false on a GPU, and check the images for "
        "extreme values; then --resume with the new --lr, or --overwrite"
    ]
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["state"]["epoch"] == 2 and ckpt["state"]["skipped_steps"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert load_checkpoint(run / "best.pt")["state"]["epoch"] == 1
    assert not (run / "report.html").exists()
    monkeypatch.undo()  # the cause is gone: the run continues from the last good epoch
    done = cli(tiny_train_args(tiny_data, run, "--resume", "--epochs", "4", "--lr", "0.001"))
    assert done.code == 0, done.err
    assert load_checkpoint(run / "last.pt")["state"]["epoch"] == 4


def test_divergence_in_the_first_epoch_says_there_is_no_checkpoint(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    _nan_loss_on(monkeypatch, range(1000))
    res = cli(tiny_train_args(tiny_data, tmp_path / "run", "--set", "train.iterations_per_epoch=6"))
    assert res.code == 3
    assert f"{MAX_BAD_STEPS} non-finite (NaN/Inf) losses in a row at epoch 1, step 5" in res.err
    assert "no epoch finished, so there is no checkpoint" in res.err
    assert not (tmp_path / "run" / "last.pt").exists()
