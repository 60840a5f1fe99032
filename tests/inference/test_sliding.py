"""Padding, tiling and Gaussian-blended sliding-window inference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from medunet.inference.sliding import (
    crop,
    gaussian_weight,
    pad_to_multiple,
    sliding_window,
    tile_starts,
)


def _pointwise(t: torch.Tensor) -> torch.Tensor:
    """A per-pixel linear map of the channels: blending it must give it back exactly."""
    return torch.cat([t, -t, 2 * t + 1], dim=1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("spatial", [(97, 131), (1, 1), (16, 32), (5, 7, 9)])
@pytest.mark.parametrize("divisor", [1, 16])
def test_pad_then_crop_is_identity(channels: int, spatial: tuple[int, ...], divisor: int) -> None:
    x = torch.randn(2, channels, *spatial)
    padded, pads = pad_to_multiple(x, divisor)
    assert padded.shape[:2] == x.shape[:2]
    assert all(s % divisor == 0 and s >= o for s, o in zip(padded.shape[2:], spatial, strict=True))
    assert all(0 <= b - a <= 1 for a, b in pads)  # symmetric, the odd pixel after
    assert torch.equal(crop(padded, pads), x)


def test_min_size_is_honoured() -> None:
    x = torch.randn(1, 1, 20, 70)
    padded, pads = pad_to_multiple(x, 16, min_size=(64, 64))
    assert padded.shape[2:] == (64, 80)
    assert torch.equal(crop(padded, pads), x)


def test_no_padding_returns_input() -> None:
    x = torch.randn(1, 2, 32, 48)
    padded, pads = pad_to_multiple(x, 16)
    assert padded is x and pads == [(0, 0), (0, 0)]


def test_reflection_when_possible_zeros_otherwise() -> None:
    x = torch.arange(1.0, 6.0).repeat(8, 1).view(1, 1, 8, 5)
    padded, pads = pad_to_multiple(x, 8)
    assert pads == [(0, 0), (1, 2)]
    assert padded[0, 0, 0].tolist() == [2, 1, 2, 3, 4, 5, 4, 3]  # reflected, not zero
    tiny = torch.ones(1, 1, 2, 2)
    padded, _ = pad_to_multiple(tiny, 16)
    assert padded.sum() == 4  # too small to reflect: zeros


@given(size=st.integers(1, 300), divisor=st.sampled_from([1, 2, 4, 8, 16, 32]),
       min_size=st.integers(0, 300))
@settings(max_examples=50, deadline=None)
def test_pad_crop_arithmetic(size: int, divisor: int, min_size: int) -> None:
    x = torch.arange(size, dtype=torch.float32).view(1, 1, 1, size)
    padded, pads = pad_to_multiple(x, divisor, min_size=(1, min_size))
    target = padded.shape[-1]
    assert target % divisor == 0 and target >= max(size, min_size)
    assert target - max(size, min_size) < divisor
    assert sum(pads[1]) == target - size
    assert torch.equal(crop(padded, pads), x)


def _check_cover(size: int, tile: int, overlap: float) -> list[int]:
    starts = tile_starts(size, tile, overlap)
    assert starts == sorted(set(starts))
    assert starts[0] == 0
    assert starts[-1] == max(size - tile, 0)
    covered = torch.zeros(max(size, tile), dtype=torch.bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered.all()
    return starts


@pytest.mark.parametrize(("size", "tile", "overlap", "n"),
                         [(64, 64, 0.5, 1), (40, 64, 0.5, 1), (128, 64, 0.5, 3), (128, 64, 0.0, 2),
                          (129, 64, 0.0, 3), (100, 64, 0.25, 2)])
def test_tile_starts_examples(size: int, tile: int, overlap: float, n: int) -> None:
    assert len(_check_cover(size, tile, overlap)) == n


@given(size=st.integers(1, 1000), tile=st.integers(1, 256), overlap=st.floats(0.0, 0.95))
@settings(max_examples=50, deadline=None)
def test_tile_starts_cover_everything(size: int, tile: int, overlap: float) -> None:
    starts = _check_cover(size, tile, overlap)
    if len(starts) > 1:
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert max(gaps) <= max(1, int(tile * (1 - overlap)))


@pytest.mark.parametrize("tile", [(8,), (9, 16), (4, 5, 6)])
def test_gaussian_weight_peaks_at_one_and_stays_positive(tile: tuple[int, ...]) -> None:
    w = gaussian_weight(tile)
    assert w.shape == tile
    assert w.max().item() == pytest.approx(1.0, abs=1e-7)
    assert w.min().item() > 0
    torch.testing.assert_close(w, w.flip(list(range(len(tile)))))  # symmetric


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.75])
@pytest.mark.parametrize(("spatial", "tile"), [((16, 16), (16, 16)), ((37, 53), (16, 24)),
                                               ((64, 40), (32, 32)), ((10, 12, 14), (8, 8, 8))])
def test_sliding_window_of_pointwise_fn_equals_fn(spatial: tuple[int, ...], tile: tuple[int, ...],
                                                  overlap: float) -> None:
    x = torch.randn(1, 2, *spatial, generator=torch.Generator().manual_seed(0))
    out = sliding_window(_pointwise, x, tile, num_classes=6, overlap=overlap, batch_size=3)
    assert out.shape == (1, 6, *spatial)
    torch.testing.assert_close(out, _pointwise(x), rtol=0, atol=1e-5)


def test_sliding_window_calls_fn_with_tile_batches() -> None:
    seen: list[tuple[int, ...]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape))
        return t

    sliding_window(fn, torch.zeros(1, 1, 48, 48), (16, 16), num_classes=1, overlap=0.5, batch_size=4)
    # 5 x 5 tiles in batches of 4: six of 4 and one of 1
    assert seen == [(4, 1, 16, 16)] * 6 + [(1, 1, 16, 16)]
