"""The best checkpoint follows the validation curve, or its trend when validation is optimistic."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import medunet.training.loop as loop
from medunet.checkpoint import load_checkpoint
from medunet.config import Config
from medunet.training.setup import setup_run
from medunet.training.state import Callbacks, selection_score

#: a validation curve with one lucky epoch (2) and a better trend later (4, 5)
CURVE = (0.2, 0.9, 0.4, 0.8, 0.85)


def test_selection_score_is_the_last_value_or_the_moving_average() -> None:
    rows = [SimpleNamespace(val_dice_fg=v) for v in CURVE]
    assert selection_score(rows, optimistic=False) == 0.85
    # EMA (alpha 0.5): 0.2, 0.55, 0.475, 0.6375, 0.74375
    assert selection_score(rows, optimistic=True) == pytest.approx(0.74375)
    assert selection_score(rows[:2], optimistic=True) == pytest.approx(0.55)


@pytest.mark.parametrize(("optimistic", "best"), [(False, 2), (True, 5)])
def test_the_best_epoch_under_optimistic_validation_is_the_trends(
        tmp_path: Path, make_dataset: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
        optimistic: bool, best: int) -> None:
    data = make_dataset(tmp_path / "data", splits=("train", "val"), n=2, size=(32, 40))
    cfg = Config().override([f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(tmp_path / 'run'))}",
                             "model.base_width=4", "model.depth=2", "train.batch_size=2",
                             'train.device="cpu"', "train.iterations_per_epoch=1", "train.epochs=5"])
    run, _ = setup_run(cfg, resume=False, overwrite=False)
    run.optimistic = optimistic
    curve: Iterator[float] = iter(CURVE)
    monkeypatch.setattr(loop, "validate", lambda *a, **k: (None, []))
    monkeypatch.setattr(loop, "val_row", lambda ev: {"val_dice_fg": (v := next(curve)),
                                                     "val_dice_fg_case_present": v})
    assert loop.run_epochs(run, Callbacks()) == "epochs_done"
    assert run.state.best_epoch == best
    assert run.state.best_metric == CURVE[best - 1]  # the chosen epoch's own Dice, not the average
    assert load_checkpoint(tmp_path / "run" / "best.pt")["state"]["best_epoch"] == best
