"""Predicted VALUES, not only shapes: padding, tiling, flips and normalisation checked exactly.

The model is a 1x1 convolution with hand-set weights (``pointwise_kit``), so the exact
probabilities of every pixel are known: ``softmax(W @ x + b)``. Any padding left in, a crop at
the wrong offset, a flip not undone or a channel normalised with another channel's statistics
moves them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pointwise_kit import BIAS, WEIGHT
from pointwise_kit import expected_probs as _expected
from pointwise_kit import pointwise_predictor as _predictor

from medunet.data.labels import LabelSet
from medunet.data.normalize import normalize, normalize_tensor
from medunet.inference.predictor import Predictor
from medunet.models import UNetConfig
from medunet.plan import Plan

# (image shape (*S), network dims, patch, depth, path the image takes, padded shape or tile)
CASES = {
    "2d-whole": ((13, 21), 2, (16, 16), 4, "whole", (16, 24)),
    "2d-sliding": ((45, 37), 2, (16, 16), 4, "sliding", (16, 16)),
    "3d-whole": ((7, 9, 5), 3, (8, 8, 8), 3, "whole", (8, 12, 8)),
    "3d-sliding": ((11, 19, 13), 3, (8, 8, 8), 3, "sliding", (8, 8, 8)),
    "3d-slicewise": ((3, 13, 21), 2, (16, 16), 4, "whole", (16, 24)),
}


@pytest.mark.parametrize("tta", [False, True], ids=["no-tta", "tta"])
@pytest.mark.parametrize("case", list(CASES))
def test_probabilities_are_exact(case: str, tta: bool) -> None:
    shape, net_dims, patch, depth, path, model_shape = CASES[case]
    predictor, model = _predictor(WEIGHT, BIAS, net_dims=net_dims, data_dims=len(shape),
                                  patch=patch, depth=depth)
    # distinct values with no symmetry: a shift, a leftover pad or an un-undone flip shows
    image = np.random.default_rng(0).uniform(-3, 3, size=(1, *shape)).astype(np.float32)
    probs = predictor.predict_proba(image, tta=tta)
    assert probs.shape == (3, *shape) and probs.dtype == np.float32
    expected = _expected(image, WEIGHT, BIAS)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=2e-6)
    # the path the case names was taken: one padded whole image per pass, or tiles of the patch
    assert {s[2:] for s in model.seen} == {model_shape}
    passes = (2 ** net_dims if tta else 1) * (shape[0] if case == "3d-slicewise" else 1)
    if path == "whole":
        assert len(model.seen) == passes and {s[0] for s in model.seen} == {1}
    else:
        assert len(model.seen) > passes
    np.testing.assert_array_equal(predictor.predict(image, tta=tta), expected.argmax(axis=0))


def test_tta_averages_flips_of_a_model_that_is_not_flip_invariant() -> None:
    """A model that sees position: the TTA result is the mean of the flipped-back passes."""

    class LeftToRight(torch.nn.Module):
        """Class 1's logit grows with the column index of the (padded) input."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ramp = torch.arange(x.shape[-1], dtype=torch.float32).expand(x.shape[0], 1, *x.shape[2:])
            return torch.cat([torch.zeros_like(ramp), ramp / 4], dim=1)

    plan = Plan(patch_size=(8, 8), network=UNetConfig(spatial_dims=2, num_classes=2, depth=2),
                normalization="none", median_shape=(8, 8))
    predictor = Predictor(LeftToRight(), plan, LabelSet.from_count(2), torch.device("cpu"))
    image = np.zeros((1, 8, 10), np.float32)  # padded to 8 x 10: columns 0..9, no crop
    p1 = predictor.predict_proba(image, tta=True)[1]
    col = np.arange(10, dtype=np.float64)
    ramp = 1 / (1 + np.exp(-col / 4))
    # flips of the rows leave the ramp alone; flips of the columns give the reversed ramp, and
    # flipped back it reads right to left: the mean of both, in every row
    expected = np.broadcast_to((ramp + ramp[::-1]) / 2, (8, 10))
    np.testing.assert_allclose(p1, expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(predictor.predict_proba(image, tta=False)[1],
                               np.broadcast_to(ramp, (8, 10)), rtol=0, atol=2e-6)


# --- CT normalisation: every channel with its own statistics ----------------------------------

CT_STATS = {"low": [-100.0, 0.0], "high": [200.0, 50.0], "mean": [10.0, 20.0], "std": [50.0, 5.0]}
RAW = np.array([[-500.0, -100.0, 0.0, 10.0, 60.0, 200.0, 900.0],   # channel 0 (HU-like)
                [-5.0, 0.0, 20.0, 25.0, 50.0, 70.0, 10.0]])          # channel 1
#: by hand: clip to [low, high] of the channel, then (v - mean) / std of the same channel
NORMALISED = np.array([[-2.2, -2.2, -0.2, 0.0, 1.0, 3.8, 3.8],
                       [-4.0, -4.0, 0.0, 1.0, 6.0, 6.0, -2.0]])


def _ct_image(rows: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(2, rows, 7)`` raw intensities and their normalised values (each row shifted)."""
    raw = np.stack([np.roll(RAW, r, axis=1) for r in range(rows)], axis=1)
    norm = np.stack([np.roll(NORMALISED, r, axis=1) for r in range(rows)], axis=1)
    return raw.astype(np.float32), norm


def test_ct_normalisation_uses_each_channels_statistics() -> None:
    raw, norm = _ct_image()
    np.testing.assert_allclose(normalize(raw, "ct", CT_STATS), norm, rtol=0, atol=1e-6)
    t = normalize_tensor(torch.from_numpy(raw), "ct", CT_STATS)
    np.testing.assert_allclose(t.numpy(), norm, rtol=0, atol=1e-6)


@pytest.mark.parametrize("tta", [False, True], ids=["no-tta", "tta"])
def test_predictor_normalises_ct_per_channel(tta: bool) -> None:
    weight = np.array([[0.0, 0.0], [1.0, -1.0]])  # class 1's logit: channel 0 minus channel 1
    bias = np.zeros(2)
    predictor, _ = _predictor(weight, bias, net_dims=2, data_dims=2, patch=(8, 8), depth=2,
                              normalization="ct", intensity=CT_STATS)
    raw, norm = _ct_image()
    probs = predictor.predict_proba(raw, tta=tta)
    np.testing.assert_allclose(probs, _expected(norm, weight, bias), rtol=0, atol=2e-6)
