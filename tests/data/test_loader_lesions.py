"""Per-lesion foreground sampling: lesions are connected components (full connectivity, per
class), every lesion keeps coordinates, and each lesion is equally likely to centre a patch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medunet.data.lesions import label_lesions, lesion_coords
from medunet.data.loader import (
    MAX_FG_COORDS,
    LoadedCase,
    PatchSampler,
    to_slices,
    training_cases,
    with_lesions,
)


def _case(mask: np.ndarray, case_id: str = "c") -> LoadedCase:
    image = np.zeros((1, *mask.shape), np.float32)
    return LoadedCase(case_id, image, mask, np.argwhere(mask > 0))


def _big_and_tiny(shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """A 20x20 lesion in the top-left corner and a 2-pixel one in the bottom-right corner."""
    mask = np.zeros(shape, np.int64)
    mask[2:22, 2:22] = 1
    mask[-3, -3:-1] = 1
    return mask


def _tiny_share(cases: list[LoadedCase], sampling: str, draws: int = 50) -> int:
    """Foreground patches (16x16) that hold the 2-pixel lesion: 1 or 2 foreground pixels, while a
    patch centred inside the 20x20 lesion holds at least 8x8 of it."""
    sampler = PatchSampler(cases, (16, 16), 8, 1.0, torch.Generator().manual_seed(0), sampling=sampling)
    count = 0
    for _ in range(draws):
        _, masks = sampler.sample()
        fg = (masks > 0).flatten(1).sum(1)
        assert ((fg >= 1) & (fg <= 2) | (fg >= 64)).all()
        count += int(((fg >= 1) & (fg <= 2)).sum())
    return count


def test_components_use_full_connectivity_and_split_classes() -> None:
    mask = np.zeros((6, 6), np.int64)
    mask[0, 0] = mask[1, 1] = 1  # diagonal neighbours: one lesion
    mask[4, 4] = 1
    mask[4, 5] = 2  # touching, but another class: another lesion
    labels, n = label_lesions(mask)
    assert n == 3
    assert labels[0, 0] == labels[1, 1] != labels[4, 4] != labels[4, 5]
    assert labels[mask == 0].max() == 0
    vol = np.zeros((3, 3, 3), np.int64)
    vol[0, 0, 0] = vol[1, 1, 1] = vol[2, 2, 2] = 1  # corner neighbours in 3D
    assert label_lesions(vol)[1] == 1


def test_every_lesion_keeps_coordinates_when_the_foreground_is_subsampled() -> None:
    mask = np.zeros((230, 230), np.int64)
    mask[:200, :200] = 1  # 40000 pixels, twice MAX_FG_COORDS
    mask[228, 228] = 1  # one-pixel lesion
    coords, ids = lesion_coords(mask, np.random.default_rng(0), MAX_FG_COORDS)
    assert sorted(np.bincount(ids).tolist()) == [1, MAX_FG_COORDS // 2]
    assert [228, 228] in coords.tolist()
    assert (mask[tuple(coords.T)] > 0).all()
    (case,) = with_lesions([_case(mask)])
    np.testing.assert_array_equal(case.fg_coords, coords)
    np.testing.assert_array_equal(case.lesion_ids, ids)


def test_small_lesions_keep_all_their_voxels() -> None:
    mask = _big_and_tiny()
    coords, ids = lesion_coords(mask, np.random.default_rng(0), limit=100, floor=8)
    assert np.bincount(ids).tolist() == [50, 2]  # 100 shared by 2 lesions; the tiny one keeps both
    assert len({tuple(c) for c in coords}) == 52


def test_lesion_sampling_centres_half_the_patches_on_the_tiny_lesion() -> None:
    cases = with_lesions([_case(_big_and_tiny())])
    # of 400 foreground patches (fixed seed): each lesion equally likely, expected 200 +- 10
    assert _tiny_share(cases, "lesion") == 214
    # per pixel the tiny lesion has 2 of 402 pixels: expected 2
    assert _tiny_share(cases, "pixel") == 0


def test_lesions_of_different_cases_are_equally_likely() -> None:
    big, tiny = np.zeros((64, 64), np.int64), np.zeros((64, 64), np.int64)
    big[2:22, 2:22] = 1
    tiny[-3, -3:-1] = 1
    cases = with_lesions([_case(big, "big"), _case(tiny, "tiny"), _case(np.zeros((64, 64), np.int64), "none")])
    share = _tiny_share(cases, "lesion")
    assert 170 <= share <= 230  # binomial(400, 1/2) within 3 sd


def test_a_lesion_on_three_slices_counts_once() -> None:
    vol = np.zeros((5, 64, 64), np.int64)
    vol[1, 2:22, 2:22] = 1  # a big lesion on one slice
    vol[2:5, -3, -2] = 1  # a one-pixel-wide lesion through three slices
    image = np.zeros((1, *vol.shape), np.float32)
    slices = to_slices([LoadedCase("v", image, vol, np.argwhere(vol > 0))], lesions=True)
    assert [s.case_id for s in slices] == [f"v#z{z}" for z in range(5)]
    assert {s.lesion_group for s in slices} == {"v"}
    tiny_ids = {int(s.lesion_ids[0]) for s in slices[2:]}
    assert len(tiny_ids) == 1 and tiny_ids != {int(slices[1].lesion_ids[0])}
    for z, s in enumerate(slices):
        np.testing.assert_array_equal(s.fg_coords, np.argwhere(vol[z] > 0))
    sampler = PatchSampler(slices, (16, 16), 8, 1.0, torch.Generator().manual_seed(0), sampling="lesion")
    tiny = 0
    for _ in range(100):
        _, masks = sampler.sample()
        tiny += int(((masks > 0).flatten(1).sum(1) == 1).sum())
    # per slice the tiny lesion would be 3 of 4 lesions (600 of 800); as one 3D lesion, 1 of 2
    assert 340 <= tiny <= 460


def test_pixel_slices_are_unchanged_by_the_lesion_fields() -> None:
    vol = np.zeros((3, 8, 8), np.int64)
    vol[1, 2:4, 2:4] = 1
    slices = to_slices([LoadedCase("v", np.zeros((1, 3, 8, 8), np.float32), vol, np.argwhere(vol > 0))])
    assert all(s.lesion_ids is None and s.lesion_group is None for s in slices)


def test_lesion_sampling_needs_cases_indexed_by_lesion() -> None:
    with pytest.raises(ValueError, match="indexed by lesion"):
        PatchSampler([_case(_big_and_tiny())], (16, 16), 2, 0.5, torch.Generator(), sampling="lesion")
    with pytest.raises(ValueError, match="train.sampling"):
        PatchSampler([_case(_big_and_tiny())], (16, 16), 2, 0.5, torch.Generator(), sampling="voxel")


def test_training_cases_picks_slices_lesions_and_refuses_context_without_slices() -> None:
    vol = np.zeros((3, 8, 8), np.int64)
    vol[1, 2:4, 2:4] = 1
    case = LoadedCase("v", np.zeros((1, 3, 8, 8), np.float32), vol, np.argwhere(vol > 0))
    assert len(training_cases([case], 0, slicewise=True, context=1)) == 3
    (same,) = training_cases([case], 0, slicewise=False)
    assert same is case
    (indexed,) = training_cases([case], 0, slicewise=False, lesions=True)
    assert indexed.lesion_ids is not None and indexed.lesion_ids.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="data.context_slices"):
        training_cases([case], 0, slicewise=False, context=1)
