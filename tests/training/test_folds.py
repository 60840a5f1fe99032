"""``medunet train --folds K``: one run per fold, the cross-validation estimate, resume, the ensemble."""

from __future__ import annotations

import io
import json
import os
import signal
import statistics
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.cli import main
from medunet.config import Config
from medunet.errors import EXIT_INTERRUPTED
from medunet.inference.postprocess import Postprocessing
from medunet.inference.predictor import Predictor
from medunet.plan import Plan
from medunet.training import Callbacks, TrainResult, train
from medunet.training.folds import FoldsResult, _fold_config
from medunet.training.run_dir import read_log

#: volumes of two slices each: slice names group them (volA_z00, volA_z01 -> volA)
VOLUMES = {"train": ["volA", "volB", "volC"], "val": ["volD"], "test": ["volE"]}
#: volD is larger: a fold that trained on it and one other volume alone would plan other patches
SIZES = {"volD": 40}
SETS = ["model.base_width=4", "model.depth=2", "train.batch_size=2", 'train.device="cpu"',
        "train.iterations_per_epoch=2", "train.epochs=2", "train.lr=0.01"]


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, volumes in VOLUMES.items():
        for folder in ("images", "masks"):
            (root / split / folder).mkdir(parents=True)
        for vol in volumes:
            yy, xx = np.mgrid[:SIZES.get(vol, 24), :SIZES.get(vol, 24)]
            for z in range(2):
                cy, cx, r = rng.integers(8, 16), rng.integers(8, 16), rng.integers(3, 6)
                mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
                img = np.clip(60 + 120 * mask + rng.normal(0, 20, mask.shape), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / split / "images" / f"{vol}_z{z:02d}.png")
                Image.fromarray(mask).save(root / split / "masks" / f"{vol}_z{z:02d}.png")
    return root


def _config(data: Path, out: Path, *extra: str) -> Config:
    return Config().override([f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}",
                              "train.folds=2", *SETS, *extra])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _dataset(tmp_path_factory.mktemp("folds") / "data")


@pytest.fixture(scope="module")
def ref(data: Path) -> Path:
    """A finished 2-fold run, trained through the CLI (stdout kept in ``stdout.txt``)."""
    run = data.parent / "ref"
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["train", str(data), "--out", str(run), "--folds", "2", "--quiet",
                     *[a for s in SETS for a in ("--set", s)]])
    assert code == 0
    (data.parent / "stdout.txt").write_text(out.getvalue())
    return run


def _untimed_logs(run: Path) -> list[list[object]]:
    return [[replace(r, seconds=0.0, elapsed=0.0) for r in read_log(run / f"fold_{k}" / "log.csv")]
            for k in range(2)]


def _numbers(run: Path) -> dict[str, object]:
    """What must repeat exactly: the untimed logs, the fold metrics and the CV estimate."""
    doc = json.loads((run / "folds.json").read_text())
    return {"logs": _untimed_logs(run), "cv": doc["cross_validation"],
            "folds": [(f["val_cases"], f["metrics"]) for f in doc["per_fold"]]}


def test_each_fold_is_a_run_and_whole_groups_are_held_out(ref: Path) -> None:
    for name in ("config.json", "plan.json", "folds.json", "report.html", "metrics.json"):
        assert (ref / name).is_file(), name
    assert Config.from_file(ref / "config.json").train.folds == 2
    doc = json.loads((ref / "folds.json").read_text())
    shared = Plan.from_dict(json.loads((ref / "plan.json").read_text()))
    pool = [f"{v}_z{z:02d}" for v in VOLUMES["train"] + VOLUMES["val"] for z in range(2)]
    assert sorted(c for f in doc["per_fold"] for c in f["val_cases"]) == sorted(pool)
    groups = [set(f["val_groups"]) for f in doc["per_fold"]]
    assert groups[0].isdisjoint(groups[1]) and groups[0] | groups[1] == {"volA", "volB", "volC", "volD"}
    assert [len(f["val_cases"]) for f in doc["per_fold"]] == [4, 4]
    for k, entry in enumerate(doc["per_fold"]):
        fold = ref / f"fold_{k}"
        for name in ("best.pt", "last.pt", "config.json", "plan.json", "log.csv", "report.html"):
            assert (fold / name).is_file(), (k, name)
        plan = json.loads((fold / "plan.json").read_text())
        assert plan["val_cases"] == entry["val_cases"]
        assert set(plan["train_cases"]) == set(pool) - set(entry["val_cases"])
        assert Plan.from_dict(plan) == shared  # one plan for every fold
        assert Config.from_file(fold / "config.json").train.folds == 1


def test_cross_validation_estimate_pools_the_out_of_fold_predictions(ref: Path) -> None:
    doc = json.loads((ref / "folds.json").read_text())
    cv = doc["cross_validation"]
    # each fold's score is its best model on its own validation cases: the best epoch's val Dice
    best = [max(r.val_dice_fg for r in read_log(ref / f"fold_{k}" / "log.csv")) for k in range(2)]
    scores = [f["metrics"]["foreground_dice"] for f in doc["per_fold"]]
    np.testing.assert_allclose(scores, best, rtol=0, atol=1e-12)
    assert cv["fold_foreground_dice"] == scores
    assert cv["fold_mean_foreground_dice"] == pytest.approx(statistics.fmean(scores), abs=1e-12)
    assert cv["fold_sd_foreground_dice"] == pytest.approx(statistics.stdev(scores), abs=1e-12)
    pooled = json.loads((ref / "metrics.json").read_text())
    assert len(pooled["per_case"]) == 8  # every pool case once, out of fold
    assert cv["pooled"]["foreground_dice"] == pytest.approx(pooled["pooled"]["foreground_dice"], abs=1e-12)
    assert "Cross-validation over 2 folds" in (ref / "report.html").read_text(encoding="utf-8")
    headline = (ref.parent / "stdout.txt").read_text().splitlines()[0]
    assert headline.startswith(f"2-fold cross-validation: out-of-fold foreground Dice "
                               f"{cv['pooled']['foreground_dice']:.4f} pooled")


def test_same_seed_same_numbers_other_seed_other_numbers(data: Path, ref: Path) -> None:
    again, other = data.parent / "again", data.parent / "other"
    train(_config(data, again))
    assert _numbers(again) == _numbers(ref)
    train(_config(data, other, "train.seed=1"))
    assert _numbers(other)["logs"] != _numbers(ref)["logs"]


def test_interrupted_fold_resumes_and_finished_folds_are_skipped(data: Path, ref: Path) -> None:
    cut = data.parent / "cut"
    steps: list[int] = []

    def interrupt(epoch: int, it: int, iters: int, loss: float) -> None:
        steps.append(epoch)
        if len(steps) == 6:  # fold 1, epoch 1, step 2 (fold 0 took 2 epochs x 2 steps)
            os.kill(os.getpid(), signal.SIGINT)

    assert train(_config(data, cut), callbacks=Callbacks(on_step=interrupt)).stopped == "interrupted"
    doc = json.loads((cut / "folds.json").read_text())
    assert [f["status"] for f in doc["per_fold"]] == ["done", "pending"]
    assert (cut / "fold_1" / "last.pt").is_file() and not (cut / "report.html").exists()
    with pytest.raises(FileNotFoundError, match="fold_1.*not finished"):
        Predictor.from_run(cut, device="cpu")
    fold0 = {f.name: f.stat().st_mtime_ns for f in (cut / "fold_0").iterdir()}
    resumed: list[int] = []
    result = train(_config(data, cut), resume=True, callbacks=Callbacks(on_step=lambda e, *_: resumed.append(e)))
    assert resumed == [1, 1]  # only fold 1's second epoch was left
    # fold 0 skipped: not retrained, not even its report rewritten
    assert {f.name: f.stat().st_mtime_ns for f in (cut / "fold_0").iterdir()} == fold0
    assert result.stopped == "epochs_done" and len(result.folds) == 2
    assert _numbers(cut) == _numbers(ref)  # resumed bit-identically
    with pytest.raises(ValueError, match="--folds 3"):
        train(_config(data, cut, "train.folds=3"), resume=True)


def test_predict_and_evaluate_a_folds_run_use_the_ensemble(data: Path, ref: Path, tmp_path: Path) -> None:
    ensemble = Predictor.from_run(ref, device="cpu")
    folds = [Predictor.from_run(ref / f"fold_{k}", device="cpu") for k in range(2)]
    assert len(ensemble.models) == 2
    # its post-processing is the one chosen on all 8 pooled out-of-fold cases, not a fold's own
    record = json.loads((ref / "postprocessing.json").read_text())
    assert record["status"] == "chosen" and record["cases"] == 8
    assert ensemble.postprocessing == Postprocessing.from_dict(record["postprocessing"])
    assert ensemble.postprocessing is not None
    image = data / "test" / "images" / "volE_z00.png"
    mean = (folds[0].predict_proba(image) + folds[1].predict_proba(image)) / 2
    np.testing.assert_allclose(ensemble.predict_proba(image), mean, rtol=0, atol=1e-6)
    assert main(["predict", str(ref), str(data / "test" / "images"), "--out", str(tmp_path / "p"),
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "p").glob("*.png")) == ["volE_z00.png", "volE_z01.png"]
    assert main(["evaluate", str(ref), "--data", str(data), "--out", str(tmp_path / "ev"),
                 "--device", "cpu"]) == 0
    assert len(json.loads((tmp_path / "ev" / "metrics.json").read_text())["per_case"]) == 2


def test_export_of_a_folds_run_names_the_fold_to_export(ref: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    for fmt, name in (("onnx", "m.onnx"), ("bundle", "m.medunet")):
        assert main(["export", str(ref), "--format", fmt, "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "2-fold cross-validation run" in err and str(ref / "fold_0") in err
        assert not (tmp_path / name).exists()


def test_fewer_groups_than_folds_fails_before_writing(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^--folds 5: only 4 group\(s\)"):
        train(_config(data, tmp_path / "run", "train.folds=5"))
    assert not (tmp_path / "run").exists()


def test_each_fold_gets_its_share_of_the_time_budget(tmp_path: Path) -> None:
    cfg = Config().override(["train.folds=4", "train.time_budget=10", 'out="/x/run"'])
    fold = _fold_config(cfg, Path("/x/run"), 3)
    assert (fold.train.time_budget, fold.train.folds, fold.out) == (2.5, 1, "/x/run/fold_3")


def test_cli_names_the_interrupted_folds_checkpoint_and_the_resume_command(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    fold = TrainResult(run / "fold_1", 0, -1, float("nan"), 0.0, "interrupted")
    interrupted = FoldsResult(run, 0, -1, float("nan"), 0.0, "interrupted", folds=(fold,))
    monkeypatch.setattr("medunet.training.train", lambda *a, **k: interrupted)
    assert main(["train", str(data), "--out", str(run), "--folds", "2", "--quiet"]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert f"progress saved in {run / 'fold_1' / 'last.pt'}" in err
    assert f"medunet train {data} --out {run} --resume" in err


def test_an_existing_folds_run_needs_resume_or_overwrite(data: Path, ref: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in ref.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="use --resume to continue it or --overwrite"):
        train(_config(data, ref))
    with pytest.raises(FileNotFoundError, match="no cross-validation run to resume"):
        train(_config(data, tmp_path / "new"), resume=True)
    assert {p: p.stat().st_mtime_ns for p in ref.rglob("*") if p.is_file()} == before
    (tmp_path / "left" / "fold_0").mkdir(parents=True)  # a fold folder alone is a run too
    with pytest.raises(FileExistsError, match=r"already holds a run \(fold_0\)"):
        train(_config(data, tmp_path / "left"))
