"""nnU-Net v2 and Decathlon datasets go through inspect -> train (1 epoch) -> predict -> evaluate
with no renaming, and give the plan and the metrics of the same data laid out medunet's way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from layout_kit import synth_cases, write_medunet, write_msd, write_nnunet

from medunet.config import Config
from medunet.data import discover_cases, inspect_dataset
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.run import evaluate_run
from medunet.inference.predictor import Predictor
from medunet.training import train

SPLITS = {"train": synth_cases(5, seed=11), "test": synth_cases(2, seed=12, prefix="test")}
WRITERS = {"medunet": write_medunet, "nnunet": write_nnunet, "msd": write_msd}
#: where each layout keeps the test split's reference masks
TEST_MASKS = {"medunet": "test/masks", "nnunet": "labelsTs", "msd": "labelsTs"}


def _config(data: Path, out: Path) -> Config:
    return Config().override([
        f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}", "model.base_width=4",
        "model.depth=2", "train.batch_size=2", 'train.device="cpu"', "train.iterations_per_epoch=25",
        "train.epochs=1", "train.lr=0.01"])


def _run(layout: str, tmp: Path) -> tuple[dict, dict, list[np.ndarray]]:
    """Inspect, train one epoch, predict the test split and evaluate it against its references:
    ``(plan.json, metrics document, per-case confusion matrices)``."""
    root = WRITERS[layout](tmp / layout / "data", SPLITS)
    summary = inspect_dataset(root)
    assert summary.problems == [] and summary.layout == layout
    run = tmp / layout / "run"
    train(_config(root, run))
    cases = discover_cases(root)[0]["test"]
    predictor = Predictor.from_run(run, device="cpu")
    predictor.predict_files([f for c in cases for f in c.image_files], tmp / layout / "pred", tta=False)
    assert sorted(p.name for p in (tmp / layout / "pred").iterdir()) == sorted(
        f"{c.case_id}.nii.gz" for c in cases)
    ev = evaluate_dirs(tmp / layout / "pred", root / TEST_MASKS[layout], labels=predictor.labels,
                       bootstrap=None)
    # `evaluate RUN --data DATA --split test` finds the same references through the layout's cases
    by_run = evaluate_run(run, root, tmp / layout / "eval", tta=False, device="cpu", bootstrap=None)
    assert by_run.case_ids == ev.case_ids
    assert all(np.array_equal(a, b) for a, b in zip(by_run.matrices, ev.matrices, strict=True))
    return json.loads((run / "plan.json").read_text()), ev.to_dict(), ev.matrices


@pytest.fixture(scope="module")
def medunet_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, list[np.ndarray]]:
    return _run("medunet", tmp_path_factory.mktemp("layouts"))


@pytest.mark.parametrize("layout", ["nnunet", "msd"])
def test_layout_gives_the_plan_and_metrics_of_medunets_layout(
        layout: str, medunet_result: tuple[dict, dict, list[np.ndarray]], tmp_path: Path) -> None:
    plan, metrics, matrices = _run(layout, tmp_path)
    ours_plan, ours_metrics, ours_matrices = medunet_result
    assert plan == ours_plan
    assert plan["network"]["in_channels"] == 2 and plan["labels"] == {"0": "background", "1": "tumour"}
    assert len(matrices) == len(SPLITS["test"])
    assert all(m[:, 1].sum() > 0 for m in matrices)  # the model segments: equal numbers mean something
    assert all(np.array_equal(a, b) for a, b in zip(matrices, ours_matrices, strict=True))
    assert metrics == ours_metrics
