"""A model with hand-set weights whose exact probabilities are known (imported by name: pytest
puts this folder on sys.path).

The model is a 1x1 convolution, so the probabilities of every pixel are ``softmax(W @ x + b)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from medunet.data.labels import LabelSet
from medunet.inference.predictor import Predictor
from medunet.models import UNetConfig
from medunet.plan import Plan

#: logits per class: 0, 1.5 x - 0.5, 0.25 - x (three classes, one input channel)
WEIGHT = np.array([[0.0], [1.5], [-1.0]])
BIAS = np.array([0.0, -0.5, 0.25])


class PointwiseLogits(torch.nn.Module):
    """``logits = W @ x + b`` at every pixel; records the shape of every input it is given."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, spatial_dims: int) -> None:
        super().__init__()
        k, c = weight.shape
        conv = (torch.nn.Conv2d if spatial_dims == 2 else torch.nn.Conv3d)(c, k, 1)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(weight).reshape(k, c, *(1,) * spatial_dims))
            conv.bias.copy_(torch.tensor(bias))
        self.conv = conv
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return self.conv(x)


def expected_probs(image: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``softmax(W @ x + b)`` over classes, in float64: the exact answer for ``(C, *S)``."""
    logits = np.einsum("kc,c...->k...", weight, image.astype(np.float64))
    logits += bias.reshape((-1,) + (1,) * (image.ndim - 1))
    e = np.exp(logits - logits.max(axis=0))
    return e / e.sum(axis=0)


def pointwise_predictor(weight: np.ndarray, bias: np.ndarray, *, net_dims: int, data_dims: int,
                        patch: Sequence[int], depth: int, normalization: str = "none",
                        intensity: dict[str, list[float]] | None = None,
                        spacing: Sequence[float] = ()) -> tuple[Predictor, PointwiseLogits]:
    """A CPU predictor around :class:`PointwiseLogits` (``spacing``: the plan's, array order)."""
    k, c = weight.shape
    model = PointwiseLogits(weight, bias, net_dims)
    network = UNetConfig(spatial_dims=net_dims, in_channels=c, num_classes=k, depth=depth)
    plan = Plan(patch_size=tuple(patch), network=network, normalization=normalization,
                median_shape=tuple(patch), spacing=tuple(spacing), data_dims=data_dims,
                intensity=intensity or {})
    return Predictor(model, plan, LabelSet.from_count(k), torch.device("cpu")), model
