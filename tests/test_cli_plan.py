"""``medunet plan`` and ``medunet train --plan``, in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medunet.cli import main
from medunet.config import Config
from medunet.data.check import check_dataset
from medunet.data.fingerprint import fingerprint_cases
from medunet.data.labels import resolve_labels
from medunet.data.loader import read_cases
from medunet.plan import Plan, make_plan
from medunet.planning.budget import TARGET_STEPS, validation_share
from medunet.planning.ladder import Candidate


@pytest.fixture
def data(tmp_path: Path, make_dataset: Callable[..., Path]) -> Path:
    return make_dataset(tmp_path / "data", n=4, size=(32, 40))


def test_plan_writes_the_plan_training_would_make(data: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(data), "--device", "cpu", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["labels"] == {"0": "background", "1": "class_1"}
    summary = check_dataset(str(data), resolve_labels(str(data), None, None))
    # data/train is the training split (data/val exists): the plan comes from it alone
    fp = fingerprint_cases(read_cases(summary.cases["train"]))
    cfg = Config().override([f"data.root={json.dumps(str(data))}"])
    assert Plan.from_dict(doc) == make_plan(fp, summary.labels, cfg)
    printed = capsys.readouterr().out
    assert "patch: 32 x 40" in printed and "regime: default" in printed


def test_plan_with_a_budget_is_calibrated(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(data), "--device", "cpu", "--time-budget", "0.5", "--out", str(out),
                 "--set", "model.base_width=4", "--set", "model.max_width=16"]) == 0
    cal = json.loads(out.read_text())["calibration"]
    assert cal["device"]["kind"] == "cpu" and cal["budget_minutes"] == 0.5
    assert cal["target_steps"] == TARGET_STEPS[2] and cal["candidates"]
    assert cal["seconds_per_step"] > 0 and cal["seconds"] > 0
    assert all(c["base_width"] == 4 and c["max_width"] == 16 for c in cal["candidates"])
    # the budget less validation of the 4 val/ cases (once per epoch), at the measured speed
    first = cal["candidates"][0]
    c = Candidate(2, 4, 16, first["depth"], tuple(first["patch"]), first["batch"])
    share = validation_share(c, (32, 40), n_train=4, n_val=4)
    assert first["steps_in_budget"] == pytest.approx(30 * (1 - share) / first["seconds_per_step"],
                                                     rel=0.01)


def test_train_uses_the_plan_file_and_refuses_one_for_other_data(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = tmp_path / "plan.json"
    assert main(["plan", str(data), "--device", "cpu", "--out", str(plan_file)]) == 0
    doc = json.loads(plan_file.read_text())
    doc["network"].update(base_width=4, max_width=8, depth=2)  # a plan training would not make
    doc["batch_size"], doc["patch_size"] = 2, [16, 24]
    plan_file.write_text(json.dumps(doc))
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), "--plan", str(plan_file), "--epochs", "1",
                 "--quiet", "--device", "cpu", "--set", "train.iterations_per_epoch=2"]) == 0
    used = json.loads((run / "plan.json").read_text())
    assert used["network"] == doc["network"] and used["patch_size"] == [16, 24] and used["batch_size"] == 2
    capsys.readouterr()
    doc["network"]["num_classes"] = 3
    plan_file.write_text(json.dumps(doc))
    code = main(["train", str(data), "--out", str(tmp_path / "other"), "--plan", str(plan_file),
                 "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "classes 3 but the data has 2" in err[0]
    assert not (tmp_path / "other").exists()
