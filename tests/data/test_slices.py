"""2.5D context: a training slice's channels and an inference slice's channels are exactly the
neighbouring slices (edges repeat the nearest slice), stacked by one function for both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medunet.data.loader import LoadedCase, to_slices
from medunet.data.slices import context_indices, stack_context
from medunet.inference.probs import infer_members
from medunet.models import UNetConfig
from medunet.plan import Plan

C, Z, K = 2, 5, 2


def _ramp() -> np.ndarray:
    """``(C, Z, 8, 8)``: every plane of channel ``c`` at slice ``z`` holds the value ``100 c + z``."""
    values = 100 * np.arange(C)[:, None] + np.arange(Z)[None, :]
    return np.broadcast_to(values[:, :, None, None], (C, Z, 8, 8)).astype(np.float32).copy()


def _expected(z: int, k: int) -> list[float]:
    """Channel order: per image channel, slices z-k .. z+k, clipped to the volume."""
    return [100 * c + min(max(z + d, 0), Z - 1) for c in range(C) for d in range(-k, k + 1)]


def test_context_indices_repeat_the_edge_slices() -> None:
    assert context_indices(0, 5, 2) == [0, 0, 0, 1, 2]
    assert context_indices(4, 5, 1) == [3, 4, 4]
    assert context_indices(2, 5, 0) == [2]
    assert context_indices(0, 1, 2) == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("k", [0, 1, K])
def test_training_slices_carry_their_neighbours(k: int) -> None:
    image = _ramp()
    mask = np.zeros((Z, 8, 8), np.int64)
    slices = to_slices([LoadedCase("v", image, mask, np.zeros((0, 3), np.int64))], context=k)
    assert len(slices) == Z
    for z, s in enumerate(slices):
        assert s.image.shape == (C * (2 * k + 1), 8, 8)
        assert s.image[:, 0, 0].tolist() == _expected(z, k)
        assert (s.image == s.image[:, :1, :1]).all()


def test_stack_context_is_the_same_on_arrays_and_tensors() -> None:
    image = _ramp()
    for z in range(Z):
        a = stack_context(image, z, K)
        t = stack_context(torch.from_numpy(image), z, K)
        assert isinstance(t, torch.Tensor)
        np.testing.assert_array_equal(a, t.numpy())


class _Recorder(nn.Module):
    """Records what it is given; predicts background everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return torch.zeros(x.shape[0], 2, *x.shape[2:])


def test_inference_slices_see_what_training_slices_saw() -> None:
    image = _ramp()
    net = UNetConfig(spatial_dims=2, depth=2, base_width=4, in_channels=C * (2 * K + 1))
    plan = Plan((8, 8), net, "none", (Z, 8, 8), data_dims=3, context_slices=K)
    recorder = _Recorder()
    mean = infer_members(recorder, torch.from_numpy(image), plan)
    assert mean.probs.shape == (2, Z, 8, 8)
    train = to_slices([LoadedCase("v", image, np.zeros((Z, 8, 8), np.int64), np.zeros((0, 3)))], context=K)
    assert len(recorder.seen) == Z
    for z, (seen, s) in enumerate(zip(recorder.seen, train, strict=True)):
        assert seen.shape == (1, C * (2 * K + 1), 8, 8)
        np.testing.assert_array_equal(seen[0].numpy(), s.image)
        assert seen[0, :, 0, 0].tolist() == _expected(z, K)
