"""Gallery selection: worst/best ordering and three orthogonal views through a volume's structure."""

from __future__ import annotations

import numpy as np

from medunet.report.gallery import pick_gallery, take, view_planes


def test_volume_planes_pass_through_the_structure() -> None:
    ref = np.zeros((10, 12, 14), np.int64)
    ref[6:9, 2:5, 9:12] = 1
    image = np.random.default_rng(0).random((2, 10, 12, 14)).astype(np.float32)
    planes = view_planes(ref, ref.copy())
    refs = [take(ref, axis, index) for _, axis, index in planes]
    images = [take(image, axis, index, channels=True) for _, axis, index in planes]
    assert [r.shape for r in refs] == [(12, 14), (10, 14), (10, 12)]
    assert [im.shape for im in images] == [(2, 12, 14), (2, 10, 14), (2, 10, 12)]
    assert all(r.sum() > 0 for r in refs)
    assert planes[0] == ("axial", 0, 7)


def test_pick_gallery_orders_worst_then_best() -> None:
    masks = {i: (None, np.full((4, 4), i % 2), np.ones((4, 4), np.int64)) for i in range(6)}
    dice = [0.5, 0.1, 0.9, 0.3, 0.8, 0.7]
    items = pick_gallery([f"c{i}" for i in range(6)], dice, masks.__getitem__, 2)
    assert [it.case_id for it in items] == ["c1", "c3", "c2", "c4"]
    assert pick_gallery(["a"], [1.0], None, 2) == []
