"""Pixel sampling (the default regime) draws exactly the batches it drew before lesion sampling and
2.5D context were added: checksums of batches pinned from that code (commit d1fa811)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from medunet.data.loader import LoadedCase, PatchSampler, RawCase, prepare_cases, to_slices


def _digest(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> str:
    h = hashlib.sha256()
    for images, masks in batches:
        h.update(images.numpy().tobytes())
        h.update(masks.numpy().tobytes())
    return h.hexdigest()[:16]


def _raw(case_id: str, shape: tuple[int, ...], seed: int, fg: float) -> RawCase:
    rng = np.random.default_rng(seed)
    # integer intensities and no normalisation: the checksums are exact on every platform
    image = rng.integers(0, 1000, size=(2, *shape)).astype(np.float32)
    mask = np.where(rng.random(shape) < fg, rng.integers(1, 3, shape), 0).astype(np.int64)
    return RawCase(case_id, image, mask, (1.0,) * len(shape))


def _draw(cases: list[LoadedCase], patch: tuple[int, ...], batch: int, fraction: float,
          seed: int, n: int = 3) -> str:
    sampler = PatchSampler(cases, patch, batch, fraction, torch.Generator().manual_seed(seed))
    return _digest([sampler.sample() for _ in range(n)])


@pytest.fixture(scope="module")
def volumes() -> list[LoadedCase]:
    # the first volume has more foreground voxels than MAX_FG_COORDS: the subsample is pinned too
    raw = [_raw("big", (16, 60, 50), 0, 0.5), _raw("sparse", (9, 30, 36), 1, 0.002),
           _raw("empty", (7, 20, 20), 2, 0.0)]
    return prepare_cases(raw, "none", None, seed=3)


def test_pixel_sampling_of_2d_cases_is_pinned() -> None:
    raw = [_raw(f"c{i}", (40 + 3 * i, 36), i, 0.01 * i) for i in range(4)]
    cases = prepare_cases(raw, "none", None, seed=5)
    assert _draw(cases, (32, 32), 4, 0.33, seed=7) == "730df5a34aa0fa82"


def test_pixel_sampling_of_slices_is_pinned(volumes: list[LoadedCase]) -> None:
    slices = to_slices(volumes, seed=11)
    assert _draw(slices, (32, 32), 6, 0.5, seed=2) == "cc4a20dd8cf30881"
    # slices with more foreground pixels than MAX_FG_COORDS: their subsamples are pinned too
    wide = prepare_cases([_raw("wide", (2, 210, 210), 4, 0.6)], "none", None, seed=3)
    assert _draw(to_slices(wide, seed=11), (64, 64), 4, 1.0, seed=2) == "2b21829efedbb8ad"


def test_pixel_sampling_of_volumes_is_pinned(volumes: list[LoadedCase]) -> None:
    assert _draw(volumes, (8, 16, 16), 2, 0.9, seed=4) == "43fa98b7b952d4b5"
