"""Intensity normalisation schemes, including CT statistics stored in the plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medunet.data.normalize import choose_scheme, ct_statistics, normalize, normalize_tensor


def _ct_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = np.full((1, 8, 20, 20), -1000.0, np.float32)  # air
    mask = np.zeros((8, 20, 20), np.int64)
    mask[2:6, 5:15, 5:15] = 1
    img[0][mask > 0] = rng.normal(40, 10, int(mask.sum()))  # soft tissue in HU
    return img, mask


def test_choose_scheme(tmp_path: Path) -> None:
    assert choose_scheme("zscore", tmp_path, -1024) == "zscore"
    assert choose_scheme("auto", tmp_path, -1024) == "ct"
    assert choose_scheme("auto", tmp_path, 0.0) == "zscore"
    (tmp_path / "dataset.json").write_text(json.dumps({"modality": "CT, abdomen"}))
    assert choose_scheme("auto", tmp_path, 0.0) == "ct"
    (tmp_path / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T1"}}))
    assert choose_scheme("auto", tmp_path, 0.0) == "zscore"
    assert choose_scheme("auto", tmp_path, 0.0, zero_fraction=0.19) == "zscore"
    assert choose_scheme("auto", tmp_path, 0.0, zero_fraction=0.2) == "zscore_nonzero"
    assert choose_scheme("auto", tmp_path, -1024, zero_fraction=0.5) == "ct"
    assert choose_scheme("zscore", tmp_path, 0.0, zero_fraction=0.9) == "zscore"


def test_zscore_nonzero_ignores_the_background() -> None:
    rng = np.random.default_rng(1)
    tissue = rng.normal(120, 15, (2, 10, 10)).clip(1, None).astype(np.float32)
    small = np.zeros((2, 40, 40), np.float32)
    big = np.zeros((2, 20, 20), np.float32)
    small[:, :10, :10] = tissue
    big[:, :10, :10] = tissue
    a = normalize(small, "zscore_nonzero")
    b = normalize(big, "zscore_nonzero")
    # the same tissue maps to the same values whatever the amount of zero background
    np.testing.assert_allclose(a[:, :10, :10], b[:, :10, :10], atol=1e-5)
    np.testing.assert_allclose(a[:, :10, :10].mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(a[:, :10, :10].std(axis=(1, 2)), 1, atol=1e-4)
    # background gets the same affine map: (0 - mean) / std, below all tissue
    assert np.allclose(a[:, 20:, 20:], a[:, 39:, 39:]) and (a[:, 20:, 20:] < a[:, :10, :10].min()).all()
    # plain zscore moves the tissue with the background share
    assert abs(normalize(small, "zscore")[0, :10, :10].mean() - normalize(big, "zscore")[0, :10, :10].mean()) > 0.5
    t = normalize_tensor(torch.from_numpy(small), "zscore_nonzero").numpy()
    np.testing.assert_allclose(t, a, rtol=1e-5, atol=1e-5)
    # a pixel non-zero in one channel only counts for both
    one = np.zeros((2, 4, 4), np.float32)
    one[0, 0, 0], one[0, 1, 1], one[1, 0, 0] = 10, 20, 5
    out = normalize(one, "zscore_nonzero")
    assert out[1, 1, 1] == np.float32((0 - 2.5) / 2.5)
    # an all-zero image stays finite (falls back to the whole image)
    zero = normalize(np.zeros((1, 5, 5), np.float32), "zscore_nonzero")
    assert np.isfinite(zero).all() and (zero == 0).all()
    assert (normalize_tensor(torch.zeros(1, 5, 5), "zscore_nonzero") == 0).all()


def test_ct_statistics_use_the_foreground_and_clip() -> None:
    cases = [_ct_case(s) for s in range(3)]
    stats = ct_statistics([c[0] for c in cases], [c[1] for c in cases])
    assert set(stats) == {"low", "high", "mean", "std"}
    assert 0 < stats["low"][0] < 40 < stats["high"][0] < 100
    assert abs(stats["mean"][0] - 40) < 1.5 and 8 < stats["std"][0] < 12
    img = cases[0][0]
    out = normalize(img, "ct", stats)
    expected = (np.clip(img, stats["low"][0], stats["high"][0]) - stats["mean"][0]) / stats["std"][0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert out.min() >= (stats["low"][0] - stats["mean"][0]) / stats["std"][0] - 1e-5  # air clipped
    t = normalize_tensor(torch.from_numpy(img), "ct", stats).numpy()
    np.testing.assert_allclose(t, out, rtol=1e-5, atol=1e-5)


def test_zscore_numpy_and_torch_agree_and_input_untouched() -> None:
    img = np.random.default_rng(0).uniform(0, 255, (2, 16, 12)).astype(np.float32)
    before = img.copy()
    a = normalize(img, "zscore")
    b = normalize_tensor(torch.from_numpy(img), "zscore").numpy()
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_array_equal(img, before)


def test_errors() -> None:
    with pytest.raises(ValueError, match="needs the statistics"):
        normalize(np.zeros((1, 4, 4), np.float32), "ct")
    with pytest.raises(ValueError, match="unknown normalization"):
        normalize(np.zeros((1, 4, 4), np.float32), "minmax")
    with pytest.raises(ValueError, match="foreground"):
        ct_statistics([np.zeros((1, 4, 4), np.float32)], [np.zeros((4, 4), np.int64)])
