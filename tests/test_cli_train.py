"""The train / predict / evaluate-a-run commands end to end, in-process."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.checkpoint import load_checkpoint
from medunet.cli import main
from medunet.inference.predictor import Predictor


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    data = root / "data"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        (data / split / "images").mkdir(parents=True)
        (data / split / "masks").mkdir(parents=True)
        for i in range(n):
            mask = np.zeros((33, 29), np.uint8)
            mask[5 + i : 20 + i, 6:18] = 1
            img = (50 + 150 * mask + rng.normal(0, 10, mask.shape)).clip(0, 255).astype(np.uint8)
            Image.fromarray(img).save(data / split / "images" / f"s{i}.png")
            Image.fromarray(mask).save(data / split / "masks" / f"s{i}.png")
    run = root / "run"
    out = io.StringIO()
    with redirect_stdout(out):  # capsys is per test; this fixture is per module
        code = main(["train", str(data), "--out", str(run), "--epochs", "2", "--quiet", "--device", "cpu",
                     "--set", "model.base_width=4", "--set", "model.depth=3",
                     "--set", "train.iterations_per_epoch=3", "--batch-size", "2"])
    assert code == 0
    (root / "train_stdout.txt").write_text(out.getvalue())
    return data, run


def test_train_cli_writes_run(trained: tuple[Path, Path]) -> None:
    _, run = trained
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["base_width"] == 4 and cfg["train"]["epochs"] == 2
    assert (run / "best.pt").is_file() and (run / "report.html").is_file()


def test_train_cli_says_why_it_stopped_and_what_it_reached(trained: tuple[Path, Path]) -> None:
    _, run = trained
    first, second = (run.parent / "train_stdout.txt").read_text().splitlines()
    ckpt = load_checkpoint(run / "last.pt")["state"]
    assert first == (f"epochs done: best epoch {ckpt['best_epoch']}, validation foreground Dice "
                     f"{ckpt['best_metric']:.4f} ({ckpt['elapsed'] / 60:.1f} min)")
    assert second == f"run: {run}  report: {run / 'report.html'}"


def test_train_cli_refuses_existing_run(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, run = trained
    assert main(["train", str(data), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "Traceback" not in err


def test_predict_cli_file_and_folder(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = trained
    out = tmp_path / "pred"
    assert main(["predict", str(run), str(data / "test" / "images"), "--out", str(out),
                 "--overlays", "--probabilities", "--device", "cpu"]) == 0
    for i in range(3):
        mask = np.asarray(Image.open(out / f"s{i}.png"))
        assert mask.shape == (33, 29) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        assert np.asarray(Image.open(out / f"s{i}_overlay.png")).shape == (33, 29, 3)
        assert np.load(out / f"s{i}_probs.npz")["probabilities"].shape == (2, 33, 29)
    single = tmp_path / "single"
    assert main(["predict", str(run), str(data / "test" / "images" / "s0.png"), "--out", str(single)]) == 0
    assert (single / "s0.png").is_file()


def test_predict_flip_tta_is_the_default(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = trained
    image = data / "test" / "images" / "s0.png"
    for flag in ([], ["--tta"], ["--no-tta"]):
        out = tmp_path / ("default" if not flag else flag[0].strip("-"))
        assert main(["predict", str(run), str(image), "--out", str(out), "--probabilities",
                     "--device", "cpu", *flag]) == 0
    probs = {d: np.load(tmp_path / d / "s0_probs.npz")["probabilities"] for d in ("default", "tta", "no-tta")}
    np.testing.assert_array_equal(probs["default"], probs["tta"])
    predictor = Predictor.from_run(run, device="cpu")
    np.testing.assert_allclose(probs["tta"], predictor.predict_proba(image).astype(np.float16), atol=1e-3)
    np.testing.assert_allclose(probs["no-tta"], predictor.predict_proba(image, tta=False).astype(np.float16),
                               atol=1e-3)
    assert not np.array_equal(probs["tta"], probs["no-tta"])


def test_evaluate_run_cli(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = trained
    out = tmp_path / "report"
    assert main(["evaluate", str(run), "--data", str(data), "--split", "test", "--out", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["num_cases"] == 3 and set(doc) >= {"pooled", "mean_case", "per_case", "labels"}
    assert len(list((out / "predictions").glob("*.png"))) == 3


def test_bad_inputs_exit_2(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, run = trained
    assert main(["predict", str(tmp_path / "nope"), str(data / "test" / "images"), "--out", str(tmp_path / "o")]) == 2
    assert main(["evaluate", str(run), "--data", str(data), "--split", "nosuch", "--out", str(tmp_path / "r")]) == 2
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert main(["train", str(data), "--out", str(tmp_path / "r3"), "--set", "train.nope=1", "--quiet"]) == 2
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()
    assert "Traceback" not in capsys.readouterr().err
