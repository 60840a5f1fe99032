"""Lesion sizes in the fingerprint: connected components per class, in pixels and in mm."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from medunet.data.fingerprint import fingerprint_cases, lesion_sizes


def _case(name: str, mask: np.ndarray, spacing: tuple[float, ...]) -> SimpleNamespace:
    return SimpleNamespace(case_id=name, image=np.ones((1, *mask.shape), np.float32), mask=mask,
                           spacing=spacing)


def test_diagonal_neighbours_join_one_lesion() -> None:
    mask = np.zeros((6, 6), np.int64)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = 1  # a diagonal line: one component with full connectivity
    mask[4:6, 4:6] = 1
    assert sorted(lesion_sizes(mask, 1).tolist()) == [3, 4]
    vol = np.zeros((3, 3, 3), np.int64)
    vol[0, 0, 0] = vol[1, 1, 1] = vol[2, 2, 2] = 2  # corner-to-corner in 3D
    assert lesion_sizes(vol, 2).tolist() == [3]


def test_fingerprint_lesions_by_hand() -> None:
    a = np.zeros((8, 8), np.int64)
    a[0:2, 0:2] = 1  # 4 px
    a[5, 5] = 1      # 1 px
    a[4:8, 0:3] = 2  # 12 px of class 2
    b = np.zeros((8, 8), np.int64)
    b[2:5, 2:5] = 1  # 9 px
    empty = np.zeros((8, 8), np.int64)
    fp = fingerprint_cases([_case("a", a, (0.5, 2.0)), _case("b", b, (1.0, 1.0)),
                            _case("e", empty, (1.0, 1.0))])
    assert fp.lesion_sizes == ((1, (1, 4, 9)), (2, (12,)))
    # mm^2: a's pixels are 0.5 x 2.0 = 1 mm^2, b's 1 mm^2: the same numbers; class 2 is 12 mm^2
    assert fp.lesion_volumes == ((1, (1.0, 4.0, 9.0)), (2, (12.0,)))
    assert fp.lesions_per_case == ((1, (2, 1, 0)), (2, (1, 0, 0)))
    assert fp.foreground_case_share == pytest.approx(2 / 3)
    assert fp.class_fractions == pytest.approx({1: 14 / 192, 2: 12 / 192})
    # median image 8 x 8 = 64 px; medians 4 and 12
    assert fp.median_lesion_share == pytest.approx({1: 4 / 64, 2: 12 / 64})


def test_lesion_volume_uses_the_spacing() -> None:
    vol = np.zeros((4, 4, 4), np.int64)
    vol[1:3, 1:3, 1:3] = 1
    fp = fingerprint_cases([_case("v", vol, (6.5, 0.5, 0.5))])
    assert fp.lesion_sizes == ((1, (8,)),)
    assert fp.lesion_volumes == ((1, (pytest.approx(8 * 6.5 * 0.25),)),)
