"""Synthetic metrics documents and galleries for the report tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from medunet.data.labels import LabelSet
from medunet.evaluation.document import CaseRow, ClassMetrics, MeanCase, MetricsDocument, Pooled
from medunet.metrics import Stat
from medunet.report import GalleryItem

EVIL_ID = "<script>x</script>"


def make_metrics(names: list[str], num_cases: int, seed: int = 0) -> MetricsDocument:
    """A metrics document, random but seeded (no boundary distances)."""
    rng = np.random.default_rng(seed)
    k = len(names)
    cm = rng.integers(0, 2_000_000, size=(k, k))
    cm[np.diag_indices(k)] += 10_000_000
    stat = Stat(mean=0.8, std=0.1, n=num_cases)
    per_class = {
        n: ClassMetrics(precision=0.9, recall=0.8, f1=0.85, dice=0.85, iou=0.74, specificity=0.99,
                        support=int(cm[i].sum()))
        for i, n in enumerate(names)
    }
    ids = [EVIL_ID] + [f"case{i:03d}" for i in range(1, num_cases)]
    per_case = tuple(
        CaseRow(
            case=cid,
            accuracy=float(rng.uniform(0.9, 1.0)),
            dice={n: float(rng.uniform()) for n in names},
            iou={n: float(rng.uniform()) for n in names},
            ref_pixels={n: 10 for n in names},
            pred_pixels={n: 12 for n in names},
        )
        for cid in ids
    )
    pooled = Pooled(
        accuracy=0.97, background_accuracy=0.86, precision=0.9, recall=0.88, f1=0.89,
        headline_average="class 1", foreground_dice=0.9,
        confusion_matrix=tuple(tuple(row) for row in cm.tolist()), per_class=per_class,
    )
    mean_case = MeanCase(
        accuracy=stat,
        dice={n: stat for n in names},
        iou={n: stat for n in names},
        # the last class never present: mean/std are None when n == 0
        dice_present={n: (Stat(None, None, 0) if n == names[-1] else stat) for n in names},
        foreground_dice=stat,
        foreground_dice_present=Stat(mean=0.85, std=None, n=1),
    )
    policy = {
        "empty_masks": "Dice is 1 when both masks are empty.",
        "headline": "Pooled foreground Dice.",
        "pooled_vs_mean": "Pooled sums pixels; mean-case averages cases.",
    }
    labels = LabelSet(tuple(range(k)), tuple(names))
    return MetricsDocument(labels, policy, pooled, mean_case, per_case)


def make_gallery(k: int, n: int, seed: int = 0) -> list[GalleryItem]:
    """Gallery items with seeded random images and blob masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48]
    items = []
    for i in range(n):
        ref = np.zeros((48, 48), dtype=np.int64)
        for label in range(1, k):
            cy, cx = rng.integers(12, 36, size=2)
            ref[(yy - cy) ** 2 + (xx - cx) ** 2 < 64] = label
        pred = np.roll(ref, shift=int(rng.integers(1, 4)), axis=1)
        shape = (3, 48, 48) if i % 2 else (48, 48)
        image = rng.normal(size=shape).astype(np.float32) + ref
        items.append(GalleryItem(EVIL_ID if i == 0 else f"case{i:03d}", image, ref, pred, 0.9))
    return items


@pytest.fixture
def evil_id() -> str:
    """A case id that must be escaped."""
    return EVIL_ID


@pytest.fixture
def metrics_factory() -> Callable[..., MetricsDocument]:
    """``make_metrics(names, num_cases, seed=0)``."""
    return make_metrics


@pytest.fixture
def gallery_factory() -> Callable[..., list[GalleryItem]]:
    """``make_gallery(k, n, seed=0)``."""
    return make_gallery


@pytest.fixture(params=[2, 4], ids=["K2", "K4"])
def report_inputs(request: pytest.FixtureRequest) -> tuple[MetricsDocument, list[GalleryItem]]:
    """(metrics, gallery) for two- and four-class problems."""
    k = request.param
    names = ["background", "brain"] if k == 2 else ["background", "a&b", "tumour", "oedema"]
    return make_metrics(names, num_cases=6), make_gallery(k, n=3)
