"""Lossy (JPEG) masks: smeared values snapped to the mask's levels, refused on request, never for PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.io import read_mask
from medunet.io.snap import FAR, MAX_FAR_SHARE, snap_mask


def _jpeg_bytes(arr: np.ndarray, quality: int = 75) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _save_jpeg(path: Path, arr: np.ndarray, quality: int = 75) -> np.ndarray:
    """Write ``arr`` as JPEG; return what a decoder reads back (the smeared values)."""
    path.write_bytes(_jpeg_bytes(arr, quality))
    with Image.open(path) as im:
        return np.asarray(im)


def _blobs(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A binary mask (0/1) of a few discs and a stripe, edges in every direction."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    mask = (yy % 17 < 3) & (xx > w // 2)
    for _ in range(3):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, min(h, w) / 4)
        mask |= np.hypot(yy - cy, xx - cx) < r
    return mask.astype(np.uint8)


@pytest.mark.parametrize("shape", [(32, 40), (64, 64), (150, 200)])
@pytest.mark.parametrize("quality", [50, 75, 95])
def test_binary_jpeg_masks_snap_back_to_the_drawn_mask(tmp_path: Path, shape: tuple[int, int],
                                                       quality: int) -> None:
    truth = _blobs(shape, seed=shape[0] + quality)
    decoded = _save_jpeg(tmp_path / "m.jpg", truth * 255, quality)
    assert np.unique(decoded).size > 2  # JPEG smeared the two levels
    labels, meta = read_mask(tmp_path / "m.jpg")
    assert set(np.unique(labels).tolist()) == {0, 1} and meta.binary_255
    assert meta.snapped_pixels == int(np.count_nonzero((decoded != 0) & (decoded != 255)))
    assert np.mean(labels == truth) >= 0.995


def test_nearest_level_by_the_midpoint() -> None:
    a = np.zeros((16, 80), np.uint8)
    a[:, 40:] = 255
    # the smear of one edge, varying along it (constant smear would be flat: a level of its own)
    for col, values in ((38, (30, 60)), (39, (127, 90)), (40, (128, 170)), (41, (230, 200))):
        a[:, col] = np.resize(values, 16)
    snapped = snap_mask(a)
    assert snapped is not None and snapped.levels == (0, 255) and snapped.changed == 4 * 16
    expected = np.zeros_like(a)
    expected[:, 40:] = 255  # 127 goes down, 128 up: the midpoint is 127.5
    assert np.array_equal(snapped.values, expected)


def test_several_levels_are_found_and_kept_apart(tmp_path: Path) -> None:
    h, w = 128, 128
    yy, xx = np.mgrid[:h, :w]
    radius = np.hypot(yy - h / 2, xx - w / 2)
    truth = (radius < 55).astype(np.uint8) + (radius < 35) + (radius < 15)  # 0..3, rings
    decoded = _save_jpeg(tmp_path / "m.jpeg", (truth * 85).astype(np.uint8))
    labels, meta = read_mask(tmp_path / "m.jpeg")
    assert meta.snapped_pixels > 0
    assert sorted(np.unique(labels).tolist()) == [0, 85, 170, 255]  # the levels as drawn
    assert np.mean(labels == truth * 85) >= 0.995
    assert meta.snapped_pixels == int(np.count_nonzero(~np.isin(decoded, (0, 85, 170, 255))))


def test_colour_jpeg_of_a_grey_mask_is_read_as_grey(tmp_path: Path) -> None:
    truth = _blobs((64, 80), seed=3)
    rgb = np.repeat((truth * 255)[..., None], 3, axis=-1)
    rgb[..., 2] = np.clip(rgb[..., 2].astype(int) + 3, 0, 255)  # chroma noise of some encoders
    _save_jpeg(tmp_path / "kvasir.jpg", rgb)
    labels, meta = read_mask(tmp_path / "kvasir.jpg")
    assert meta.binary_255 and np.mean(labels == truth) >= 0.995


def test_snapping_off_refuses_a_smeared_mask_and_names_the_fix(tmp_path: Path) -> None:
    _save_jpeg(tmp_path / "m.jpg", _blobs((64, 64), seed=1) * 255)
    with pytest.raises(ValueError, match="--no-snap-masks") as err:
        read_mask(tmp_path / "m.jpg", snap_masks=False)
    assert str(err.value).startswith(f"{tmp_path / 'm.jpg'}: ") and "PNG" in str(err.value)
    # a JPEG mask that kept its levels exactly is accepted either way
    _save_jpeg(tmp_path / "empty.jpg", np.zeros((64, 64), np.uint8))
    labels, meta = read_mask(tmp_path / "empty.jpg", snap_masks=False)
    assert not labels.any() and meta.snapped_pixels == 0


def test_lossless_masks_are_never_snapped(tmp_path: Path) -> None:
    decoded = _save_jpeg(tmp_path / "m.jpg", _blobs((64, 64), seed=2) * 255)
    Image.fromarray(decoded).save(tmp_path / "m.png")  # the smeared values, stored losslessly
    labels, meta = read_mask(tmp_path / "m.png")
    assert np.array_equal(labels, decoded) and meta.snapped_pixels == 0


@pytest.mark.parametrize("kind", ["noise", "gradient", "photo"])
def test_images_are_not_mistaken_for_smeared_masks(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :128]
    arr = {"noise": rng.integers(0, 256, (96, 128)),
           "gradient": xx * 2,
           "photo": np.clip(rng.integers(0, 60, (96, 128)) + 150 * _blobs((96, 128), 4), 0, 255)}[kind]
    decoded = _save_jpeg(tmp_path / "m.jpg", arr.astype(np.uint8))
    assert snap_mask(decoded) is None
    labels, meta = read_mask(tmp_path / "m.jpg")
    assert np.array_equal(labels, decoded) and meta.snapped_pixels == 0


def test_what_is_not_snapped() -> None:
    one_level = np.full((16, 16), 7, np.uint8)
    one_level[3, 3] = 12
    assert snap_mask(one_level) is None
    assert snap_mask(np.zeros((8, 8), np.uint16)) is None  # JPEG masks are 8-bit
    two = np.zeros((20, 40), np.uint8)
    two[:, 20:] = 255
    far = int(np.ceil(MAX_FAR_SHARE * two.size / 20)) + 1  # columns of far pixels past the limit
    # a wide band of values far from both levels, and not flat (else it would be a level)
    two[:, 20 - far:20] = np.random.default_rng(0).integers(FAR + 24, 255 - FAR - 24, (20, far))
    assert snap_mask(two) is None
