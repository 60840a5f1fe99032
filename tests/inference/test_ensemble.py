"""The fold ensemble: a Predictor of several models averages their probabilities."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from pointwise_kit import BIAS, WEIGHT, expected_probs, pointwise_predictor

from medunet.inference.ensemble import ensemble_members
from medunet.inference.predictor import Predictor

#: a second hand-set model: other logits per class (0, 0.5 - x, 2 x)
WEIGHT_B = np.array([[0.0], [-1.0], [2.0]])
BIAS_B = np.array([0.0, 0.5, 0.0])


def _pair() -> tuple[Predictor, Predictor]:
    kw = {"net_dims": 2, "data_dims": 2, "patch": (8, 8), "depth": 2}
    return (pointwise_predictor(WEIGHT, BIAS, **kw)[0], pointwise_predictor(WEIGHT_B, BIAS_B, **kw)[0])


@pytest.mark.parametrize("tta", [False, True])
def test_two_models_average_their_probabilities(tta: bool) -> None:
    a, b = _pair()
    ensemble = Predictor(*ensemble_members([a, b]))
    assert ensemble.models == [a.model, b.model] and ensemble.model is a.model
    image = np.linspace(-2, 2, 8 * 10, dtype=np.float32).reshape(1, 8, 10)
    # pointwise models: every flip gives the same map, so TTA changes nothing here
    expected = (expected_probs(image, WEIGHT, BIAS) + expected_probs(image, WEIGHT_B, BIAS_B)) / 2
    got = ensemble.predict_proba(image, tta=tta)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    np.testing.assert_array_equal(ensemble.predict(image, tta=tta), expected.argmax(axis=0))
    # and it is neither member alone
    assert np.abs(a.predict_proba(image, tta=tta) - got).max() > 0.05
    assert np.abs(b.predict_proba(image, tta=tta) - got).max() > 0.05


def test_predictor_takes_one_model_or_a_list() -> None:
    a, _ = _pair()
    single = Predictor(a.model, a.plan, a.labels, torch.device("cpu"))
    assert single.models == [single.model]
    listed = Predictor([a.model], a.plan, a.labels, torch.device("cpu"))
    image = np.ones((1, 8, 8), np.float32)
    np.testing.assert_array_equal(single.predict_proba(image), listed.predict_proba(image))


def test_members_of_another_plan_do_not_ensemble() -> None:
    a, b = _pair()
    b.plan = replace(b.plan, normalization="zscore")
    with pytest.raises(ValueError, match="member 1 has another plan"):
        ensemble_members([a, b])
    with pytest.raises(ValueError, match="at least one model"):
        ensemble_members([])
