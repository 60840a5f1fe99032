"""Batched augmentation: label sets, shapes, seeding, image/mask consistency."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch

from medunet.config import AugmentConfig
from medunet.data.augment import (
    augment_batch,
    random_affine,
    random_flip,
    random_intensity,
    random_rot90,
)

ALWAYS = AugmentConfig(p_affine=1.0, rotation_deg=30.0, p_intensity=1.0, p_gamma=1.0, p_noise=1.0)
NEVER = AugmentConfig(flip=False, rot90=False, p_affine=0.0, p_intensity=0.0, p_gamma=0.0,
                      p_noise=0.0)


Spatial = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(spatial: tuple[int, ...], b: int = 4, c: int = 2, labels: tuple[int, ...] = (0, 1, 3)
           ) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(123)
    image = torch.randn((b, c, *spatial), generator=g)
    choice = torch.randint(0, len(labels), (b, *spatial), generator=g)
    mask = torch.tensor(labels)[choice]
    return image, mask


SPATIAL = [(12, 12), (12, 16), (8, 8, 8)]


@pytest.mark.parametrize("spatial", SPATIAL)
def test_affine_keeps_label_set_and_shapes(spatial: tuple[int, ...]) -> None:
    image, mask = _batch(spatial)
    out_i, out_m = random_affine(image, mask, ALWAYS, _gen())
    assert out_i.shape == image.shape and out_m.shape == mask.shape
    assert out_m.dtype == mask.dtype
    assert set(out_m.unique().tolist()) <= {0, 1, 3}
    assert not torch.equal(out_m, mask)


@pytest.mark.parametrize("spatial", SPATIAL)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_transforms_keep_label_set_shapes_and_dtypes(spatial: tuple[int, ...], seed: int) -> None:
    image, mask = _batch(spatial)
    out_i, out_m = augment_batch(image, mask, ALWAYS, _gen(seed))
    assert out_i.shape == image.shape and out_i.dtype == image.dtype
    assert out_m.shape == mask.shape and out_m.dtype == mask.dtype
    assert set(out_m.unique().tolist()) <= {0, 1, 3}
    assert torch.isfinite(out_i).all()


def test_inputs_are_not_mutated() -> None:
    image, mask = _batch((12, 12))
    i0, m0 = image.clone(), mask.clone()
    augment_batch(image, mask, ALWAYS, _gen())
    assert torch.equal(image, i0) and torch.equal(mask, m0)


@pytest.mark.parametrize("spatial", SPATIAL)
def test_same_seed_same_output(spatial: tuple[int, ...]) -> None:
    image, mask = _batch(spatial)
    a = augment_batch(image, mask, ALWAYS, _gen(7))
    b = augment_batch(image, mask, ALWAYS, _gen(7))
    c = augment_batch(image, mask, ALWAYS, _gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_generator_state_resumes_exactly() -> None:
    image, mask = _batch((12, 12))
    g = _gen(5)
    augment_batch(image, mask, ALWAYS, g)
    state = g.get_state()
    second = augment_batch(image, mask, ALWAYS, g)
    g2 = torch.Generator()
    g2.set_state(state)
    again = augment_batch(image, mask, ALWAYS, g2)
    assert torch.equal(second[0], again[0]) and torch.equal(second[1], again[1])


@pytest.mark.parametrize("transform", [random_flip, random_rot90])
@pytest.mark.parametrize("spatial", SPATIAL)
def test_spatial_transforms_move_image_and_mask_together(transform: Spatial,
                                                        spatial: tuple[int, ...]) -> None:
    _, mask = _batch(spatial, b=8)
    # the image equals its mask, with a second channel that makes orientation unambiguous
    image = torch.stack([mask.float(), -mask.float()], dim=1)
    changed = False
    for seed in range(4):
        out_i, out_m = transform(image, mask, _gen(seed))
        assert torch.equal(out_i[:, 0], out_m.float())
        assert torch.equal(out_i[:, 1], -out_m.float())
        changed |= not torch.equal(out_m, mask)
    if transform is random_flip or spatial[0] == spatial[1]:
        assert changed


def test_flip_and_rot90_are_permutations_per_sample() -> None:
    # every sample keeps its pixel values (only their positions change)
    _, mask = _batch((10, 10), b=6)
    image = mask.float().unsqueeze(1)
    for transform in (random_flip, random_rot90):
        out_i, out_m = transform(image, mask, _gen(1))
        for i in range(mask.shape[0]):
            assert torch.equal(out_m[i].flatten().sort().values, mask[i].flatten().sort().values)


def test_rot90_skips_non_square() -> None:
    image, mask = _batch((8, 12))
    out_i, out_m = random_rot90(image, mask, _gen())
    assert torch.equal(out_i, image) and torch.equal(out_m, mask)


@pytest.mark.parametrize("spatial", SPATIAL)
def test_probability_zero_is_identity(spatial: tuple[int, ...]) -> None:
    image, mask = _batch(spatial)
    out_i, out_m = augment_batch(image, mask, NEVER, _gen())
    assert torch.equal(out_i, image) and torch.equal(out_m, mask)


def test_intensity_only_leaves_geometry_alone() -> None:
    image, mask = _batch((12, 12))
    cfg = dataclasses.replace(ALWAYS, flip=False, rot90=False, p_affine=0.0)
    out_i, out_m = augment_batch(image, mask, cfg, _gen())
    assert torch.equal(out_m, mask)
    assert not torch.equal(out_i, image)


def test_intensity_is_per_sample() -> None:
    image, _ = _batch((12, 12), b=16)
    cfg = dataclasses.replace(NEVER, p_intensity=0.5)
    out = random_intensity(image, cfg, _gen(0))
    same = [torch.equal(out[i], image[i]) for i in range(16)]
    assert any(same) and not all(same)


# --- image/mask correspondence of the affine transform, checked on values -------------------------
#
# Bilinear (trilinear in 3D) interpolation reproduces a linear function exactly, so an image made of
# one index ramp per spatial axis comes out of the transform holding, at every output pixel, the source
# coordinate it was sampled from (in pixels). A channel of ones tells where every neighbour of that
# source point lies inside the patch (ones == 1) or none does (ones == 0). Nearest-neighbour sampling
# of the mask must then pick the label at the rounded source coordinate. Float32 rounding in the grid
# and the interpolation is ~1e-5 pixel for these sizes, so pixels within TIE of a rounding tie (where
# either neighbour is a correct nearest pick) are skipped; TIE is 100 times that error.

AFFINE = AugmentConfig(p_affine=1.0, rotation_deg=30.0, scale=(0.8, 1.25))
TIE = 1e-3


def _ramp_image(spatial: tuple[int, ...], b: int) -> torch.Tensor:
    """``(B, D + 1, *S)``: one index ramp per spatial axis, then a channel of ones."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in spatial], indexing="ij")
    channels = torch.stack([*axes, torch.ones(spatial)])
    return channels.expand(b, *channels.shape).clone()


@pytest.mark.parametrize("spatial", SPATIAL)
@pytest.mark.parametrize("seed", [0, 1])
def test_affine_mask_is_the_label_at_the_image_source_coordinate(spatial: tuple[int, ...],
                                                                 seed: int) -> None:
    dims = len(spatial)
    _, mask = _batch(spatial, b=6)
    out_i, out_m = random_affine(_ramp_image(spatial, 6), mask, AFFINE, _gen(seed))
    coords, ones = out_i[:, :dims], out_i[:, dims]
    frac = coords - coords.floor()
    inside = (ones > 1 - 1e-5) & ((frac - 0.5).abs() > TIE).all(dim=1)
    idx = coords.round().long().clamp_min(0)
    for d, n in enumerate(spatial):
        idx[:, d] = idx[:, d].clamp_max(n - 1)
    batch = torch.arange(6).view(-1, *([1] * dims)).expand_as(out_m)
    expected = mask[(batch, *idx.unbind(1))]
    assert inside.float().mean() > 0.4  # most of the patch is checked, not just a few pixels
    assert torch.equal(out_m[inside], expected[inside])
    # where the source point lies a pixel or more outside the patch the mask is background, like
    # the zero-padded image
    outside = ones < 1e-6
    assert outside.any()
    assert not out_m[outside].any()


@pytest.mark.parametrize(("spatial", "axis"), [(s, a) for s in SPATIAL for a in range(len(s))])
def test_affine_label_boundary_sits_on_the_image_half_level(spatial: tuple[int, ...],
                                                           axis: int) -> None:
    # the image is the (binary) mask as float; the mask varies along one axis only, so bilinear
    # sampling reduces to a linear blend of the two neighbours along that axis, which exceeds 0.5
    # exactly where the nearer neighbour (the nearest-sampled label) is 1
    g = _gen(axis)
    profile = torch.randint(0, 2, (spatial[axis],), generator=g)
    shape = [1] * len(spatial)
    shape[axis] = spatial[axis]
    mask = profile.view(shape).expand(spatial).expand(8, *spatial).clone()
    image = torch.stack([mask.float(), torch.ones(mask.shape)], dim=1)
    out_i, out_m = random_affine(image, mask, AFFINE, _gen(3))
    level, ones = out_i[:, 0], out_i[:, 1]
    inside = (ones > 1 - 1e-5) & ((level - 0.5).abs() > TIE)
    assert inside.float().mean() > 0.4 and out_m[inside].any()
    assert torch.equal(out_m[inside], (level[inside] > 0.5).long())
    outside = ones < 1e-6
    assert not out_m[outside].any() and not out_i[:, 0][outside].any()
