"""A run chooses its post-processing on validation, stores it, and prediction applies it;
optimistic validation skips the choice (medunet.training.finish, medunet.inference.postprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medunet.bundle import load_bundle
from medunet.checkpoint import load_checkpoint, save_checkpoint
from medunet.config import Config
from medunet.export import export_bundle
from medunet.inference.postprocess import Postprocessing
from medunet.inference.predictor import Predictor
from medunet.training import train


def _dataset(root: Path, ids: dict[str, list[str]]) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    for split, names in ids.items():
        for folder in ("images", "masks"):
            (root / split / folder).mkdir(parents=True)
        for name in names:
            cy, cx = rng.integers(10, 22, size=2)
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 25).astype(np.uint8)
            img = np.clip(60 + 120 * mask + rng.normal(0, 20, (32, 32)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / "images" / f"{name}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"{name}.png")
    return root


def _train(data: Path, out: Path, *sets: str) -> Path:
    cfg = Config().override([f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}",
                             "model.base_width=4", "model.depth=2", "train.batch_size=2",
                             'train.device="cpu"', "train.iterations_per_epoch=2", "train.epochs=1",
                             *sets])
    return train(cfg).run_dir


@pytest.fixture(scope="module")
def honest_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("honest")
    data = _dataset(root / "data", {"train": [f"a{i}" for i in range(4)], "val": ["b0", "b1"]})
    return _train(data, root / "run")


def test_choice_is_recorded_stored_and_loaded(honest_run: Path, tmp_path: Path) -> None:
    record = json.loads((honest_run / "postprocessing.json").read_text())
    assert record["status"] == "chosen" and record["validation_optimistic"] is False
    assert record["model_selection"]["epoch"] == 1 and record["steps"]
    for step in record["steps"]:
        assert step["kept"] == (step["mean_after"] > step["mean_before"])
    stored = load_checkpoint(honest_run / "best.pt")["postprocessing"]
    assert stored == record["postprocessing"]
    pred = Predictor.from_run(honest_run, device="cpu")
    assert pred.postprocessing == Postprocessing.from_dict(stored)
    bundle = export_bundle(honest_run, tmp_path / "m.medunet").model
    assert load_bundle(bundle)["postprocessing"] == stored
    assert Predictor.from_run(bundle, device="cpu").postprocessing == pred.postprocessing
    report = (honest_run / "report.html").read_text()
    assert 'id="selection"' in report and "chosen: epoch 1" not in report  # the mark is in the PNG


def test_optimistic_validation_skips_the_choice(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", {"train": [f"vol_z{z:03d}" for z in range(5)]})
    run = _train(data, tmp_path / "run")
    record = json.loads((run / "postprocessing.json").read_text())
    assert record["status"] == "skipped" and record["validation_optimistic"] is True
    assert "optimistic" in record["reason"] and "postprocessing" not in record
    assert "postprocessing" not in load_checkpoint(run / "best.pt")
    assert Predictor.from_run(run, device="cpu").postprocessing is None
    assert "Validation is optimistic" in (run / "model_card.md").read_text()
    report = (run / "report.html").read_text()
    assert "<strong>Validation</strong>" in report and "Post-processing skipped" in report
    plan = json.loads((run / "plan.json").read_text())
    assert plan["train_groups"] == plan["val_groups"] == ["vol"]


def test_postprocess_off_is_recorded_and_stores_nothing(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", {"train": ["a0", "a1"], "val": ["b0"]})
    run = _train(data, tmp_path / "run", "train.postprocess=false")
    assert json.loads((run / "postprocessing.json").read_text())["status"] == "off"
    assert "postprocessing" not in load_checkpoint(run / "best.pt")


def test_old_checkpoint_without_the_key_predicts_argmax(honest_run: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(honest_run / "best.pt")
    ckpt.pop("postprocessing")
    old = save_checkpoint(ckpt, tmp_path / "old.pt")
    pred = Predictor.from_run(old, device="cpu")
    assert pred.postprocessing is None
    img = np.random.default_rng(1).uniform(0, 255, (1, 32, 32)).astype(np.float32)
    assert np.array_equal(pred.predict(img), pred.predict_proba(img).argmax(0))
    assert torch.equal(torch.as_tensor(pred.predict(img)), torch.as_tensor(pred.predict(img)))


def test_onnx_export_carries_the_choice(honest_run: Path, tmp_path: Path) -> None:
    from medunet.export import export_onnx

    onnx = export_onnx(honest_run, tmp_path / "m.onnx").model
    stored = load_checkpoint(honest_run / "best.pt")["postprocessing"]
    assert json.loads((tmp_path / "m.onnx.json").read_text())["postprocessing"] == stored
    assert Predictor.from_run(onnx).postprocessing == Postprocessing.from_dict(stored)
