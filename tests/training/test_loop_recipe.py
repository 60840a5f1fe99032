"""The training step uses the plan's loss and deep supervision; the time budget covers the
planner's calibration."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import medunet.training.loop as loop
from medunet.checkpoint import load_checkpoint
from medunet.config import Config
from medunet.inference.predictor import Predictor
from medunet.losses import deep_supervision_loss, loss_for
from medunet.models import UNetConfig
from medunet.models.factory import model_for
from medunet.plan import Plan
from medunet.training import Callbacks
from medunet.training.loop import budget_seconds, learning_rate, train_one_epoch
from medunet.training.setup import Run, setup_run
from medunet.training.state import TrainState
from medunet.training.validation import validate


def _config(data: Path, out: Path, *sets: str) -> Config:
    return Config().override([f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}",
                              "model.base_width=4", "model.depth=4", "train.batch_size=2",
                              'train.device="cpu"', "train.iterations_per_epoch=2", "train.epochs=1",
                              *sets])


@pytest.fixture
def data(tmp_path: Path, make_dataset: Callable[..., Path]) -> Path:
    return make_dataset(tmp_path / "data", splits=("train", "val"), n=2, size=(32, 40), classes=3)


def _with_recipe(run: Run, **changes: object) -> Run:
    """The run with plan fields changed (what the planner will choose) and the model rebuilt."""
    run.plan = replace(run.plan, network=replace(run.plan.network, depth=4), **changes)  # type: ignore[arg-type]
    run.model = model_for(run.plan).to(run.device)
    run.opt = torch.optim.AdamW(run.model.parameters(), lr=1e-3)
    return run


def _first_loss(run: Run, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """The loss the first step reports, and the same loss computed here on the same batch."""
    g = torch.Generator().manual_seed(0)
    img, msk = torch.randn(2, 1, 32, 40, generator=g), torch.randint(0, 3, (2, 32, 40), generator=g)
    monkeypatch.setattr(run.sampler, "sample", lambda: (img, msk))
    monkeypatch.setattr(loop, "augment_batch", lambda i, m, cfg, gen: (i, m))
    reference = copy.deepcopy(run.model).train()
    out = reference(img)
    fn = loss_for(run.plan.loss, run.cfg.train.batch_dice)
    expected = deep_supervision_loss(out, msk, fn) if isinstance(out, list) else fn(out, msk)
    seen: list[float] = []
    callbacks = Callbacks(on_step=lambda e, i, n, value: seen.append(value))
    assert train_one_epoch(run, threading.Event(), callbacks, lambda: 0.0) is None
    return seen[0], float(expected.detach())


@pytest.mark.parametrize(("loss", "deep"), [("dice_ce", False), ("tversky_ce", True), ("dice_focal", True),
                                            ("dice_ce_sample", False)])
def test_the_step_uses_the_plans_loss_and_deep_supervision(data: Path, tmp_path: Path, loss: str, deep: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = setup_run(_config(data, tmp_path / "run"), resume=False, overwrite=False)
    run = _with_recipe(run, loss=loss, deep_supervision=deep)
    assert hasattr(run.model, "ds_heads") is deep
    value, expected = _first_loss(run, monkeypatch)
    assert value == pytest.approx(expected, abs=1e-6)
    assert run.state.step == 2


def test_a_deeply_supervised_run_validates_saves_and_predicts(data: Path, tmp_path: Path) -> None:
    run, _ = setup_run(_config(data, tmp_path / "run"), resume=False, overwrite=False)
    run = _with_recipe(run, deep_supervision=True, loss="tversky_ce")
    heads = [h.weight.detach().clone() for h in run.model.ds_heads]
    assert train_one_epoch(run, threading.Event(), Callbacks(), lambda: 0.0) is None
    assert all(not torch.equal(a, h.weight) for a, h in zip(heads, run.model.ds_heads, strict=True))
    ev, preds = validate(run.model, run.val_data, run.plan, run.names, run.device)
    assert [p.shape for p in preds] == [c.mask.shape for c in run.val_data]
    run.save("last.pt")
    pred = Predictor.from_checkpoint(load_checkpoint(tmp_path / "run" / "last.pt"), device="cpu")
    assert pred.plan.deep_supervision and len(pred.model.ds_heads) == 1  # strict load of the heads
    image = torch.from_numpy(run.val_data[0].image)
    with torch.no_grad():
        torch.testing.assert_close(pred.model(image[None]), run.model.eval()(image[None]))


def test_budget_seconds_leave_out_the_calibration() -> None:
    plan = Plan((16, 16), UNetConfig(depth=3), "zscore", (16, 16), calibration={"seconds": 30.0})
    assert budget_seconds(Config().override(["train.time_budget=2"]), plan) == 90.0
    assert budget_seconds(Config().override(["train.time_budget=2"]), replace(plan, calibration={})) == 120.0
    assert budget_seconds(Config().override(["train.time_budget=0.25"]), plan) == 0.0
    assert budget_seconds(Config(), plan) is None
    cfg = Config().override(["train.time_budget=1", "train.lr=0.01"])
    state = TrainState(step=100, elapsed=15.0)
    # half of the 30 s left is spent: the polynomial decay is at 0.5
    assert learning_rate(cfg, state, 10**6, 30.0) == pytest.approx(0.01 * 0.5 ** 0.9)
    assert learning_rate(cfg, state, 10**6, None) == pytest.approx(0.01 * (1 - 100 / 10**6) ** 0.9)


@pytest.mark.parametrize(("calibration", "clock", "stopped"), [
    ({"seconds": 30.0}, 31.0, True), ({"seconds": 30.0}, 29.0, False), ({}, 31.0, False)])
def test_the_clock_stops_training_at_the_budget_less_the_calibration(
        data: Path, tmp_path: Path, calibration: dict[str, float], clock: float, stopped: bool) -> None:
    run, _ = setup_run(_config(data, tmp_path / "run", "train.time_budget=1"), resume=False, overwrite=False)
    run.plan = replace(run.plan, calibration=calibration)
    reason = train_one_epoch(run, threading.Event(), Callbacks(), lambda: clock)
    assert (reason, run.state.step) == (("time_budget", 0) if stopped else (None, 2))


@pytest.mark.parametrize(("calibration", "progress"), [({"seconds": 30.0}, 0.5), ({}, 0.25)])
def test_the_learning_rate_decays_over_the_budget_less_the_calibration(
        data: Path, tmp_path: Path, calibration: dict[str, float], progress: float) -> None:
    # 1000 epochs: the step count's share of the run stays far below the clock's
    cfg = _config(data, tmp_path / "run", "train.time_budget=1", "train.lr=0.01", "train.epochs=1000")
    run, _ = setup_run(cfg, resume=False, overwrite=False)
    run.plan = replace(run.plan, calibration=calibration)
    assert train_one_epoch(run, threading.Event(), Callbacks(), lambda: 15.0) is None
    # the second step (step 1): warm-up 2 / WARMUP_STEPS, 15 s of the 30 s (60 s) left spent
    expected = 0.01 * 2 / loop.WARMUP_STEPS * (1 - progress) ** 0.9
    assert run.opt.param_groups[0]["lr"] == pytest.approx(expected)


def test_an_epoch_that_starts_after_the_budget_is_not_validated_or_logged(data: Path, tmp_path: Path) -> None:
    run, _ = setup_run(_config(data, tmp_path / "run", "train.time_budget=1", "data.patch_size=[32,40]",
                               "model.max_width=8", "train.epochs=3"), resume=False, overwrite=False)
    assert loop.run_epochs(replace(run, cfg=run.cfg.override(["train.epochs=1"])), Callbacks()) == "epochs_done"
    assert len(run.state.rows) == 1
    run.state.elapsed = 3600.0  # an hour spent: the next epoch must not start
    assert loop.run_epochs(run, Callbacks()) == "time_budget"
    assert len(run.state.rows) == 1 and run.state.epoch == 1
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 2  # header + epoch 1
