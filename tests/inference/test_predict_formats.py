"""`medunet predict RUN SERIES --format dicom-seg|seg-nrrd` end to end: a run trained on volumes
predicts a DICOM series, and the DICOM-SEG and the Slicer file decode to the NIfTI mask it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from test_dicom_seg import SPACING, write_series

from medunet.cli import main
from medunet.config import Config
from medunet.io import read_mask
from medunet.training import train

pytest.importorskip("highdicom")


def _volume(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    zz, yy, xx = np.mgrid[:8, :32, :32]
    c = rng.uniform(12, 20, 2)
    mask = ((yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= 36) & (zz >= 1) & (zz <= 6)
    img = 100 + 600 * mask + rng.normal(0, 40, mask.shape)
    return img.astype(np.int16), mask.astype(np.uint8)


def _nifti(arr: np.ndarray, path: Path) -> None:
    im = sitk.GetImageFromArray(arr)
    im.SetSpacing(SPACING)
    sitk.WriteImage(im, str(path))


@pytest.fixture(scope="module")
def run_and_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(5)
    for split, n in (("train", 4), ("val", 2)):
        for d in ("images", "masks"):
            (root / "data" / split / d).mkdir(parents=True)
        for i in range(n):
            img, mask = _volume(rng)
            _nifti(img, root / "data" / split / "images" / f"v{i}.nii.gz")
            _nifti(mask, root / "data" / split / "masks" / f"v{i}.nii.gz")
    (root / "data" / "dataset.json").write_text(json.dumps({"classes": {"0": "background",
                                                                         "1": "lesion"}}))
    train(Config().override([
        f"data.root={json.dumps(str(root / 'data'))}", f"out={json.dumps(str(root / 'run'))}",
        "model.base_width=4", "model.depth=3", "train.batch_size=4", 'train.device="cpu"',
        "train.iterations_per_epoch=15", "train.epochs=4", "train.lr=0.01",
        "train.foreground_fraction=0.9"]))
    series = root / "series"
    write_series(series, _volume(rng)[0], np.eye(3))
    return root / "run", series


def test_dicom_seg_and_seg_nrrd_hold_the_predicted_mask(run_and_series: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    from medunet.inference.dicom_seg import read_dicom_seg

    run, series = run_and_series
    out = tmp_path / "dicom"
    assert main(["predict", str(run), str(series), "--out", str(out), "--no-tta",
                 "--format", "dicom-seg"]) == 0
    mask, _ = read_mask(out / "series.nii.gz")
    assert mask.any(), "the model predicts some lesion: an all-background check would prove little"
    seg = read_dicom_seg(out / "series.seg.dcm", series)
    assert np.array_equal(seg, mask)
    out = tmp_path / "slicer"
    assert main(["predict", str(run), str(series), "--out", str(out), "--no-tta",
                 "--format", "seg-nrrd"]) == 0
    slicer, _ = read_mask(out / "series.seg.nrrd")
    assert np.array_equal(slicer, read_mask(out / "series.nii.gz")[0])
