"""A real tiny training run: loss goes down, run files are written, resume is exact, predict works."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medunet.checkpoint import load_checkpoint
from medunet.config import Config
from medunet.inference.predictor import Predictor
from medunet.training import Callbacks, train
from medunet.training.run_dir import read_log


def _disc_dataset(root: Path, n: dict[str, int], size: tuple[int, int] = (32, 32), rgb: bool = False,
                  seed: int = 0) -> Path:
    """Noisy images with a bright disc; the mask is the disc (0/255 when binary)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: size[0], : size[1]]
    for split, count in n.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(count):
            cy, cx = rng.integers(8, size[0] - 8), rng.integers(8, size[1] - 8)
            r = rng.integers(4, 8)
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
            img = np.clip(60 + 120 * mask + rng.normal(0, 20, size), 0, 255).astype(np.uint8)
            if rgb:
                img = np.stack([img, img // 2, 255 - img], axis=-1)
            Image.fromarray(img).save(root / split / "images" / f"c{i:02d}.png")
            Image.fromarray(mask * 255).save(root / split / "masks" / f"c{i:02d}.png")
    return root


def _config(data: Path, out: Path, **train: object) -> Config:
    sets = [f"data.root={json.dumps(str(data))}", f"out={json.dumps(str(out))}",
            "model.base_width=4", "model.depth=3", "train.batch_size=4", "train.device=\"cpu\"",
            "train.iterations_per_epoch=6", "train.epochs=3", "train.lr=0.01"]
    sets += [f"train.{k}={json.dumps(v)}" for k, v in train.items()]
    return Config().override(sets)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _disc_dataset(tmp_path_factory.mktemp("data"), {"train": 8, "val": 3, "test": 3})


@pytest.fixture(scope="module")
def finished_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    train(_config(dataset, out, epochs=4))
    return out


def test_run_writes_every_file_and_loss_decreases(finished_run: Path) -> None:
    for name in ("best.pt", "last.pt", "config.json", "plan.json", "log.csv", "curves.png",
                 "report.html", "metrics.json", "metrics.csv"):
        assert (finished_run / name).is_file(), name
    rows = (finished_run / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:2] == ["epoch", "train_loss"] and "val_dice_fg" in header and "lr" in header
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert len(losses) == 4
    assert losses[-1] < losses[0]
    ckpt = load_checkpoint(finished_run / "best.pt")
    assert ckpt["labels"] == {"0": "background", "1": "class_1"}
    assert ckpt["binary_255"] is True
    cfg = Config.from_file(finished_run / "config.json")
    assert cfg.train.epochs == 4


def test_refuses_existing_run_without_resume_or_overwrite(dataset: Path, finished_run: Path) -> None:
    before = (finished_run / "last.pt").read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        train(_config(dataset, finished_run, epochs=4))
    assert (finished_run / "last.pt").read_bytes() == before


def test_same_seed_same_weights_and_interrupt_resume_is_bit_identical(dataset: Path, tmp_path: Path) -> None:
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    train(_config(dataset, ref_dir))
    ref = load_checkpoint(ref_dir / "last.pt")["model"]

    def interrupt(epoch: int, it: int, iters: int, loss: float) -> None:
        if epoch == 1 and it == 2:
            os.kill(os.getpid(), signal.SIGINT)

    summary = train(_config(dataset, cut_dir), callbacks=Callbacks(on_step=interrupt))
    assert summary.stopped == "interrupted"
    state = load_checkpoint(cut_dir / "last.pt")["state"]
    assert (state["epoch"], state["iteration"]) == (1, 2)
    train(_config(dataset, cut_dir), resume=True)
    resumed = load_checkpoint(cut_dir / "last.pt")["model"]
    assert ref.keys() == resumed.keys()
    for k in ref:
        assert torch.equal(ref[k], resumed[k]), k
    # the log too: every number but the timings, across the interruption
    untimed = [[replace(r, seconds=0.0, elapsed=0.0) for r in read_log(d / "log.csv")] for d in (ref_dir, cut_dir)]
    assert untimed[0] == untimed[1] and [r.epoch for r in untimed[1]] == [1, 2, 3]


@pytest.mark.parametrize("shape", [(97, 131), (32, 32), (13, 200)])
def test_predict_returns_input_size(finished_run: Path, shape: tuple[int, int]) -> None:
    pred = Predictor.from_run(finished_run, device="cpu")
    img = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
    labels = pred.predict(img)
    assert labels.shape == shape
    probs = pred.predict_proba(img, tta=True)
    assert probs.shape == (2, *shape)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)


def test_large_image_goes_through_tiles(finished_run: Path) -> None:
    pred = Predictor.from_run(finished_run, device="cpu")
    img = np.random.default_rng(2).uniform(0, 255, (300, 170)).astype(np.float32)
    assert pred.predict(img).shape == (300, 170)


def test_rgb_training_and_prediction(tmp_path: Path) -> None:
    data = _disc_dataset(tmp_path / "rgb", {"train": 6, "val": 2}, size=(40, 36), rgb=True)
    summary = train(_config(data, tmp_path / "run", epochs=1))
    pred = Predictor.from_run(summary.run_dir, device="cpu")
    assert pred.plan.network.in_channels == 3
    img = np.random.default_rng(3).uniform(0, 255, (3, 45, 51)).astype(np.float32)
    assert pred.predict(img).shape == (45, 51)
    with pytest.raises(ValueError, match="channel"):
        pred.predict(img[:1])


def test_single_training_case_validates_on_itself(tmp_path: Path) -> None:
    data = _disc_dataset(tmp_path / "one", {"train": 1})
    summary = train(_config(data, tmp_path / "run", epochs=1))
    plan = json.loads((summary.run_dir / "plan.json").read_text())
    assert plan["val_is_train"] is True and plan["val_cases"] == plan["train_cases"] == ["c00"]
    assert (summary.run_dir / "best.pt").is_file()


def _ct_volumes(root: Path, n: dict[str, int]) -> Path:
    """Tiny CT-like NIfTI volumes (air at -1000 HU, a soft-tissue block) with oblique geometry."""
    import SimpleITK as sitk

    rng = np.random.default_rng(5)
    for split, count in n.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(count):
            mask = np.zeros((8, 24, 20), np.uint8)
            z, y = rng.integers(1, 4), rng.integers(3, 10)
            mask[z : z + 4, y : y + 10, 5:15] = 1
            img = np.where(mask > 0, rng.normal(60, 15, mask.shape), rng.normal(-1000, 20, mask.shape))
            for arr, sub, dtype in ((img, "images", np.int16), (mask, "masks", np.uint8)):
                im = sitk.GetImageFromArray(arr.astype(dtype))
                im.SetSpacing((0.8, 0.9, 2.5))
                im.SetOrigin((10.0, -20.0, 5.0))
                im.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
                sitk.WriteImage(im, str(root / split / sub / f"v{i}.nii.gz"))
    return root


def test_ct_volumes_train_slicewise_and_predict_with_geometry(tmp_path: Path) -> None:
    import SimpleITK as sitk

    data = _ct_volumes(tmp_path / "ct", {"train": 3, "val": 1, "test": 1})
    summary = train(_config(data, tmp_path / "run", epochs=2))
    plan = json.loads((summary.run_dir / "plan.json").read_text())
    assert plan["normalization"] == "ct" and plan["data_dims"] == 3
    assert plan["network"]["spatial_dims"] == 2  # CPU: slice by slice
    np.testing.assert_allclose(plan["spacing"], [2.5, 0.9, 0.8], rtol=1e-6)  # array (z, y, x) order
    assert set(plan["intensity"]) == {"low", "high", "mean", "std"}
    assert load_checkpoint(summary.run_dir / "best.pt")["plan"]["intensity"] == plan["intensity"]
    pred = Predictor.from_run(summary.run_dir, device="cpu")
    out = [c.mask for c in pred.predict_files([data / "test" / "images" / "v0.nii.gz"], tmp_path / "pred")]
    ref = sitk.ReadImage(str(data / "test" / "images" / "v0.nii.gz"))
    got = sitk.ReadImage(str(out[0]))
    assert out[0].name == "v0.nii.gz"
    assert got.GetSize() == ref.GetSize()
    np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-6)


def test_multichannel_cases_train_and_evaluate(tmp_path: Path) -> None:
    from medunet.evaluation import evaluate

    data = _disc_dataset(tmp_path / "mc", {"train": 4, "val": 2, "test": 2})
    for img in list(data.glob("*/images/*.png")):  # two channels per case: x_0000, x_0001
        arr = np.asarray(Image.open(img))
        Image.fromarray(arr).save(img.with_name(f"{img.stem}_0000.png"))
        Image.fromarray(255 - arr).save(img.with_name(f"{img.stem}_0001.png"))
        img.unlink()
    summary = train(_config(data, tmp_path / "run", epochs=1))
    assert Predictor.from_run(summary.run_dir, device="cpu").plan.network.in_channels == 2
    ev = evaluate(summary.run_dir, data=data, out=tmp_path / "report", device="cpu")
    assert ev.case_ids == ["c00", "c01"]
    assert sorted(p.name for p in (tmp_path / "report" / "predictions").iterdir()) == ["c00.png", "c01.png"]
