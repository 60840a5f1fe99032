"""The CLI's output options end to end on a tiny trained run: one-file bundles, uncertainty maps,
clinical formats refused for inputs they cannot describe, lossy masks refused on request."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.cli import _train_config, build_parser, main
from medunet.config import Config
from medunet.io import read_image, read_mask
from medunet.training import train


def _disc(rng: np.random.Generator, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(10, 22, 2)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 49).astype(np.uint8)
    return np.clip(60 + 120 * mask + rng.normal(0, 20, mask.shape), 0, 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("outputs")
    rng = np.random.default_rng(3)
    for split, n in (("train", 6), ("val", 3)):
        for d in ("images", "masks"):
            (root / "data" / split / d).mkdir(parents=True)
        for i in range(n):
            img, mask = _disc(rng)
            Image.fromarray(img).save(root / "data" / split / "images" / f"c{i}.png")
            Image.fromarray(mask * 255).save(root / "data" / split / "masks" / f"c{i}.png")
    train(Config().override([
        f"data.root={json.dumps(str(root / 'data'))}", f"out={json.dumps(str(root / 'run'))}",
        "model.base_width=4", "model.depth=3", "train.batch_size=4", 'train.device="cpu"',
        "train.iterations_per_epoch=6", "train.epochs=2", "train.lr=0.01"]))
    return root / "run"


def test_bundle_predicts_as_the_run_does(run: Path, tmp_path: Path) -> None:
    images = run.parent / "data" / "val" / "images"
    bundle = tmp_path / "model.medunet"
    assert main(["export", str(run), "--format", "bundle", "--out", str(bundle)]) == 0
    assert main(["predict", str(run), str(images), "--out", str(tmp_path / "a")]) == 0
    assert main(["predict", str(bundle), str(images), "--out", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) == 3
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
    # a bundle evaluates on a split like its run folder
    assert main(["evaluate", str(bundle), "--data", str(run.parent / "data"), "--split", "val",
                 "--out", str(tmp_path / "ev"), "--bootstrap", "0"]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["num_cases"] == 3


def test_uncertainty_maps_and_scores(run: Path, tmp_path: Path) -> None:
    images = run.parent / "data" / "val" / "images"
    assert main(["predict", str(run), str(images), "--out", str(tmp_path / "p"), "--uncertainty"]) == 0
    maps = sorted((tmp_path / "p").glob("*_uncertainty.*"))
    assert len(maps) == 3
    entropy = read_image(maps[0])[0]
    assert entropy.shape[1:] == read_mask(tmp_path / "p" / "c0.png")[0].shape
    assert entropy.min() >= 0.0 and entropy.max() <= 1.0
    assert main(["evaluate", str(run), "--data", str(run.parent / "data"), "--split", "val",
                 "--out", str(tmp_path / "ev"), "--uncertainty", "--bootstrap", "0"]) == 0
    with open(tmp_path / "ev" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    scores = [float(r["uncertainty"]) for r in rows]
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert [r["uncertainty"] for r in doc["per_case"]] == scores


@pytest.mark.parametrize("fmt", ["dicom-seg", "seg-nrrd"])
def test_clinical_formats_refuse_2d_images_before_writing(run: Path, tmp_path: Path, fmt: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    images = run.parent / "data" / "val" / "images"
    assert main(["predict", str(run), str(images), "--out", str(tmp_path / "p"), "--format", fmt]) == 2
    assert f"--format {fmt}" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_no_snap_masks_reaches_inspect_and_training(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for d in ("images", "masks"):
        (tmp_path / "data" / d).mkdir(parents=True)
    for i in range(3):
        img, mask = _disc(rng)
        Image.fromarray(img).save(tmp_path / "data" / "images" / f"c{i}.png")
        Image.fromarray(mask * 255).save(tmp_path / "data" / "masks" / f"c{i}.jpg", quality=75)
    assert main(["inspect", str(tmp_path / "data")]) == 0
    assert main(["inspect", str(tmp_path / "data"), "--no-snap-masks"]) == 2
    args = build_parser().parse_args(["train", str(tmp_path / "data"), "--out", str(tmp_path / "r"),
                                      "--no-snap-masks"])
    assert _train_config(args).data.snap_masks is False
    args = build_parser().parse_args(["train", str(tmp_path / "data"), "--out", str(tmp_path / "r")])
    assert _train_config(args).data.snap_masks is True


def test_a_folder_predicted_with_uncertainty_evaluates_as_it_is(run: Path, tmp_path: Path) -> None:
    data = run.parent / "data" / "val"
    assert main(["predict", str(run), str(data / "images"), "--out", str(tmp_path / "p"),
                 "--uncertainty"]) == 0
    assert main(["evaluate", str(tmp_path / "p"), str(data / "masks"), "--out", str(tmp_path / "ev"),
                 "--bootstrap", "0"]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["num_cases"] == 3
