"""Plan a network and its training patches from the dataset's fingerprint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from medunet.config import Config
from medunet.data.validate import DatasetSummary
from medunet.models import UNetConfig

#: training patches above this many pixels are cropped (keeps a CPU step under a second)
MAX_PATCH_PIXELS_2D = 256 * 256
MIN_BOTTLENECK = 4


@dataclass(frozen=True)
class Plan:
    """What the data dictates: patch, network and normalisation.

    Parameters
    ----------
    patch_size : tuple of int
        Training patch ``(H, W)``, a multiple of ``network.divisor``.
    network : UNetConfig
    normalization : str
    median_shape : tuple of int
        Median image shape of the training set.
    """

    patch_size: tuple[int, ...]
    network: UNetConfig
    normalization: str
    median_shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"patch_size": list(self.patch_size), "network": asdict(self.network),
                "normalization": self.normalization, "median_shape": list(self.median_shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(tuple(d["patch_size"]), UNetConfig(**d["network"]), str(d["normalization"]),
                   tuple(d["median_shape"]))


def _median_shape(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    ordered = [sorted(s[i] for s in shapes) for i in range(len(shapes[0]))]
    return tuple(axis[len(axis) // 2] for axis in ordered)


def _round_up(v: int, m: int) -> int:
    return int(math.ceil(v / m) * m)


def make_plan(summary: DatasetSummary, config: Config) -> Plan:
    """Choose patch size and depth so the patch covers a typical image and the bottleneck
    keeps at least ``MIN_BOTTLENECK`` pixels per side.

    ``config.data.patch_size`` and ``config.model`` are honoured when given.
    """
    if summary.labels is None:
        raise ValueError(f"{summary.root}: no label set could be determined")
    shapes = [s for s, n in summary.shapes.items() for _ in range(n)]
    median = _median_shape(shapes)
    if config.data.patch_size is not None:
        patch = tuple(int(p) for p in config.data.patch_size)
        if len(patch) != len(median):
            raise ValueError(f"data.patch_size has {len(patch)} values, the images have {len(median)} axes")
    else:
        patch = median
        while math.prod(patch) > MAX_PATCH_PIXELS_2D:
            patch = tuple(max(16, int(p * 0.9)) for p in patch)
    depth = config.model.depth
    while depth > 2 and min(patch) / 2 ** (depth - 1) < MIN_BOTTLENECK:
        depth -= 1
    net = UNetConfig(
        in_channels=summary.num_channels,
        num_classes=summary.labels.num_classes,
        spatial_dims=config.model.spatial_dims,
        depth=depth,
        base_width=config.model.base_width,
        max_width=config.model.max_width,
        norm=config.model.norm,
        dropout=config.model.dropout,
    )
    patch = tuple(_round_up(p, net.divisor) for p in patch)
    return Plan(patch, net, config.data.normalization, median)
