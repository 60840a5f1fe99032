"""Masks as people save them: JPEG masks snapped (or refused on request), and masks whose values
cannot be labels refused with a message that names the fix."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.data import check_dataset, inspect_dataset
from medunet.errors import DatasetError
from medunet.evaluation.files import evaluate_dirs


def _jpeg_dataset(root: Path, make_dataset: Callable[..., Path], n: int = 4) -> Path:
    """A binary dataset (PNG images, 0/255 masks) whose masks are also saved as JPEG at quality 75
    in ``root/jpeg/masks``; ``root/png`` keeps the true PNG masks."""
    png = make_dataset(root / "png", splits=None, n=n, size=(96, 128), mask_255=True)
    (root / "jpeg" / "masks").mkdir(parents=True)
    (root / "jpeg" / "images").symlink_to(png / "images")
    for f in sorted((png / "masks").iterdir()):
        with Image.open(f) as im:
            im.save(root / "jpeg" / "masks" / f"{f.stem}.jpg", format="JPEG", quality=75)
    return root


@pytest.fixture
def jpeg_root(tmp_path: Path, make_dataset: Callable[..., Path]) -> Path:
    return _jpeg_dataset(tmp_path, make_dataset)


def _smeared(path: Path) -> int:
    with Image.open(path) as im:
        a = np.asarray(im)
    return int(np.count_nonzero((a != 0) & (a != 255)))


def test_jpeg_masks_are_snapped_with_one_warning(jpeg_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    masks = sorted((jpeg_root / "jpeg" / "masks").iterdir())
    with caplog.at_level(logging.WARNING, logger="medunet"):
        s = check_dataset(jpeg_root / "jpeg")
    assert s.snapped == {m: _smeared(m) for m in masks} and all(n > 0 for n in s.snapped.values())
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1  # one for the dataset
    assert s.binary_255 == len(masks) and s.labels is not None and s.labels.values == (0, 1)
    assert s.to_dict()["masks_snapped"] == {str(m): n for m, n in s.snapped.items()}
    assert all(m.name in s.to_text() for m in masks)  # inspect says which files were snapped


def test_snapped_jpeg_masks_match_the_true_png_masks(jpeg_root: Path) -> None:
    ev = evaluate_dirs(jpeg_root / "jpeg" / "masks", jpeg_root / "png" / "masks", distances=False,
                       lesions=None, bootstrap=None)
    m = ev.pooled_matrix
    assert 2 * m[1, 1] / (2 * m[1, 1] + m[0, 1] + m[1, 0]) >= 0.99


def test_no_snap_masks_refuses_every_smeared_mask(jpeg_root: Path) -> None:
    s = inspect_dataset(jpeg_root / "jpeg", snap_masks=False)
    masks = sorted((jpeg_root / "jpeg" / "masks").iterdir())
    assert [p.path for p in s.problems] == masks and s.snapped == {}
    assert all("--no-snap-masks" in p.message and "PNG" in p.message for p in s.problems)
    with pytest.raises(DatasetError):
        check_dataset(jpeg_root / "jpeg", snap_masks=False)


def test_png_mask_with_values_up_to_255_says_why_and_how_to_fix(
        tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=2)
    smeared = np.zeros((32, 40), np.uint8)
    smeared[:, 20:] = 255
    smeared[:, 19] = np.arange(32) * 8  # 33 distinct values up to 255: far fewer than 255 classes
    smeared[0, 19] = 255
    Image.fromarray(smeared).save(root / "masks" / "case_00.png")
    (problem,) = [p for p in inspect_dataset(root).problems if p.path.name == "case_00.png"]
    assert "value 255 is too high" in problem.message and "labels are 0..254" in problem.message
    assert "nearest-neighbour" in problem.message and "at most 255 classes" not in problem.message


def test_mask_with_more_values_than_classes(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=2)
    Image.fromarray(np.arange(32 * 40, dtype=np.uint16).reshape(32, 40)).save(root / "masks" / "case_01.png")
    (problem,) = [p for p in inspect_dataset(root).problems if p.path.name == "case_01.png"]
    assert problem.message.startswith("mask holds 1280 distinct values") and "at most 255" in problem.message
