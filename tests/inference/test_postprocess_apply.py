"""The Predictor applies a stored post-processing (hand-set model: exact probabilities)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pointwise_kit import pointwise_predictor

from medunet.inference.postprocess import Postprocessing

#: two classes, logits 0 and x / 100 - 1: p(foreground) = sigmoid(x / 100 - 1), 0.27 .. 0.83 on 0..255
WEIGHT, BIAS = np.array([[0.0], [0.01]]), np.array([0.0, -1.0])


def _p_fg(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x.astype(np.float64) / 100.0 - 1.0)))


def test_predictor_applies_a_stored_threshold(tmp_path: Path) -> None:
    pred, _ = pointwise_predictor(WEIGHT, BIAS, net_dims=2, data_dims=2, patch=(16, 16), depth=2)
    x = np.linspace(0.0, 255.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    assert np.array_equal(pred.predict(x, tta=False), (_p_fg(x) > 0.5).astype(np.int64))
    pred.postprocessing = Postprocessing(threshold=0.45)
    labels = pred.predict(x, tta=False)
    assert np.array_equal(labels, (_p_fg(x) > 0.45).astype(np.int64))
    assert 0 < labels.sum() - (_p_fg(x) > 0.5).sum() < labels.size  # the threshold matters
    # predict_files writes the same post-processed labels
    Image.fromarray(x.round().astype(np.uint8)).save(tmp_path / "img.png")
    img = np.asarray(Image.open(tmp_path / "img.png"), dtype=np.float32)
    [written] = pred.predict_files([tmp_path / "img.png"], tmp_path / "out", tta=False)
    assert np.array_equal(np.asarray(Image.open(written.mask)), (_p_fg(img) > 0.45).astype(np.uint8))
