"""Normalisation, padded crops and the seeded patch sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medunet.data.loader import LoadedCase, PatchSampler, _crop_with_pad, normalize, to_slices


def _case(case_id: str, shape: tuple[int, ...], fg: list[tuple[int, ...]], channels: int = 1,
          seed: int = 0) -> LoadedCase:
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(channels, *shape)).astype(np.float32)
    mask = np.zeros(shape, np.int64)
    for p in fg:
        mask[p] = 1
    return LoadedCase(case_id, image, mask, np.argwhere(mask > 0))


def test_zscore_per_channel_and_input_untouched() -> None:
    rng = np.random.default_rng(0)
    image = np.stack([rng.normal(100, 20, (16, 12)), rng.normal(-3, 0.5, (16, 12))])
    before = image.copy()
    out = normalize(image, "zscore")
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1.0, atol=1e-5)
    np.testing.assert_array_equal(image, before)


def test_zscore_of_constant_image_is_finite() -> None:
    out = normalize(np.full((1, 4, 4), 7, np.uint8), "zscore")
    np.testing.assert_array_equal(out, 0.0)


def test_none_copies_as_float32() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    out = normalize(image, "none")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, image)
    out[0, 0, 0] = 99
    assert image[0, 0, 0] == 0


def test_unknown_normalization_raises() -> None:
    with pytest.raises(ValueError, match="minmax"):
        normalize(np.zeros((1, 2, 2)), "minmax")


def test_crop_inside_is_a_plain_slice() -> None:
    arr = np.arange(2 * 6 * 7).reshape(2, 6, 7)
    np.testing.assert_array_equal(_crop_with_pad(arr, (1, 2), (3, 4)), arr[:, 1:4, 2:6])


def test_crop_pads_outside_with_zeros() -> None:
    arr = np.arange(1, 13).reshape(3, 4)  # no zeros inside
    out = _crop_with_pad(arr, (-2, 2), (5, 4))
    assert out.shape == (5, 4)
    np.testing.assert_array_equal(out[:2], 0)
    np.testing.assert_array_equal(out[2:, :2], arr[:, 2:])
    np.testing.assert_array_equal(out[2:, 2:], 0)


@pytest.mark.parametrize("start", [(-10, 0), (0, -9), (7, 0), (0, 30)])
def test_crop_entirely_outside_is_all_zero(start: tuple[int, int]) -> None:
    arr = np.ones((4, 5), np.float32)
    out = _crop_with_pad(arr, start, (3, 3))
    assert out.shape == (3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, 0)


def test_crop_larger_than_array_centres_it() -> None:
    arr = np.ones((1, 2, 3), np.float32)
    out = _crop_with_pad(arr, (-1, -1), (4, 5))
    assert out.shape == (1, 4, 5)
    assert out.sum() == 6 and out[0, 1:3, 1:4].all()


def test_sampler_shapes_and_dtypes() -> None:
    cases = [_case("a", (20, 24), [(5, 5)], channels=2), _case("b", (10, 30), [], channels=2)]
    sampler = PatchSampler(cases, (16, 16), 5, 0.5, torch.Generator().manual_seed(0))
    for _ in range(5):
        images, masks = sampler.sample()
        assert images.shape == (5, 2, 16, 16) and images.dtype == torch.float32
        assert masks.shape == (5, 16, 16) and masks.dtype == torch.int64


def test_sampler_3d_shapes() -> None:
    cases = [_case("a", (6, 10, 10), [(3, 3, 3)])]
    images, masks = PatchSampler(cases, (8, 8, 8), 2, 0.5, torch.Generator().manual_seed(0)).sample()
    assert images.shape == (2, 1, 8, 8, 8) and masks.shape == (2, 8, 8, 8)


@pytest.mark.parametrize("patch", [(8, 8), (16, 16), (48, 40)])
def test_foreground_fraction_one_always_contains_foreground(patch: tuple[int, int]) -> None:
    corners = [(0, 0), (31, 39), (0, 39), (15, 20)]
    cases = [_case(f"c{i}", (32, 40), [p], seed=i) for i, p in enumerate(corners)]
    cases.append(_case("empty", (32, 40), []))
    sampler = PatchSampler(cases, patch, 8, 1.0, torch.Generator().manual_seed(0))
    for _ in range(10):
        _, masks = sampler.sample()
        assert (masks.flatten(1) > 0).any(dim=1).all()


def test_no_foreground_anywhere_falls_back_to_random() -> None:
    cases = [_case("a", (20, 20), [])]
    _, masks = PatchSampler(cases, (8, 8), 4, 1.0, torch.Generator().manual_seed(0)).sample()
    assert masks.shape == (4, 8, 8) and not masks.any()


def test_same_seed_same_batches() -> None:
    cases = [_case("a", (32, 40), [(3, 4), (20, 30)]), _case("b", (24, 24), [(10, 10)], seed=1)]

    def draw(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        sampler = PatchSampler(cases, (16, 16), 4, 0.5, torch.Generator().manual_seed(seed))
        return [sampler.sample() for _ in range(3)]

    a, b, c = draw(0), draw(0), draw(1)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


def test_no_cases_raises() -> None:
    with pytest.raises(ValueError, match="no training cases"):
        PatchSampler([], (8, 8), 2, 0.5, torch.Generator())


# --- image/mask correspondence of the patches, checked on values ----------------------------------


def _coded_case(case_id: str, shape: tuple[int, ...], seed: int, fg: float = 0.5) -> LoadedCase:
    """Random labels; image channel 0 is the mask as float, then one 1-based index ramp per axis
    (so a zero in any channel means padding)."""
    rng = np.random.default_rng(seed)
    mask = np.where(rng.random(shape) < fg, rng.integers(1, 4, shape), 0).astype(np.int64)
    ramps = np.meshgrid(*[np.arange(1, n + 1) for n in shape], indexing="ij")
    image = np.stack([mask, *ramps]).astype(np.float32)
    return LoadedCase(case_id, image, mask, np.argwhere(mask > 0))


def _assert_is_one_crop(image: np.ndarray) -> None:
    """The ramps of a patch ``(1 + D, *P)`` are a box of the case, counting up along each axis."""
    ramps = image[1:]
    inside = (ramps > 0).all(axis=0)
    # outside the case every channel is padding
    assert not (ramps > 0).any(axis=0)[~inside].any()
    where = np.argwhere(inside)
    box = tuple(slice(a, b + 1) for a, b in zip(where.min(0), where.max(0), strict=True))
    assert inside[box].all() and inside.sum() == inside[box].size
    for axis, ramp in enumerate(ramps):
        shape = [1] * ramp.ndim
        shape[axis] = -1
        counting = ramp[box].flat[0] + np.arange(ramp[box].shape[axis]).reshape(shape)
        np.testing.assert_array_equal(ramp[box], np.broadcast_to(counting, ramp[box].shape))


@pytest.mark.parametrize(("shapes", "patch"), [
    ([(20, 24), (16, 30), (9, 12)], (16, 16)),  # the last case is smaller than the patch
    ([(10, 12, 14), (6, 16, 9)], (8, 8, 8)),
])
@pytest.mark.parametrize("fg_fraction", [0.0, 0.5, 1.0])
def test_patch_mask_is_cropped_where_the_image_is(shapes: list[tuple[int, ...]],
                                                 patch: tuple[int, ...], fg_fraction: float) -> None:
    cases = [_coded_case(f"c{i}", s, seed=i, fg=0.02 + 0.3 * i) for i, s in enumerate(shapes)]
    sampler = PatchSampler(cases, patch, 6, fg_fraction, torch.Generator().manual_seed(0))
    for _ in range(4):
        images, masks = sampler.sample()
        np.testing.assert_array_equal(images[:, 0].numpy(), masks.numpy().astype(np.float32))
        for image in images.numpy():
            _assert_is_one_crop(image)


def test_slices_keep_image_and_mask_of_the_same_slice() -> None:
    case = _coded_case("v", (5, 6, 7), seed=0)
    slices = to_slices([case])
    assert [s.case_id for s in slices] == [f"v#z{z}" for z in range(5)]
    for z, s in enumerate(slices):
        np.testing.assert_array_equal(s.image[0], s.mask.astype(np.float32))
        np.testing.assert_array_equal(s.image[1], z + 1)  # the slice's own z ramp
        np.testing.assert_array_equal(s.fg_coords, np.argwhere(s.mask > 0))
