"""Plan a network and its training patches from the dataset's fingerprint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from medunet.config import Config
from medunet.data.check import DatasetSummary
from medunet.data.normalize import choose_scheme
from medunet.data.resample import is_anisotropic, target_spacing
from medunet.models import UNetConfig

#: training patches above this many pixels/voxels are shrunk (keeps a CPU step around a second)
MAX_PATCH_PIXELS_2D = 256 * 256
MAX_PATCH_VOXELS_3D = 32 * 128 * 128
MIN_BOTTLENECK = 4
BATCH_2D, BATCH_3D = 8, 2


@dataclass(frozen=True)
class Plan:
    """What the data dictates: patch, network and normalisation.

    Parameters
    ----------
    patch_size : tuple of int
        Training patch (``network.spatial_dims`` axes), a multiple of ``network.divisor``.
    network : UNetConfig
    normalization : str
    median_shape : tuple of int
        Median image shape of the training set (after resampling).
    spacing : tuple of float
        Target spacing per array axis; every image is resampled to it before the network.
    data_dims : int
        2 for images, 3 for volumes (a 2D network on volumes works slice by slice).
    batch_size : int
    intensity : dict
        Statistics the normalisation needs at inference (CT: per-channel clip window, mean, std).
    """

    patch_size: tuple[int, ...]
    network: UNetConfig
    normalization: str
    median_shape: tuple[int, ...]
    spacing: tuple[float, ...] = ()
    data_dims: int = 2
    batch_size: int = BATCH_2D
    intensity: dict[str, list[float]] = field(default_factory=dict)

    @property
    def slicewise(self) -> bool:
        """A 2D network applied to the slices (first axis) of volumes."""
        return self.data_dims == 3 and self.network.spatial_dims == 2

    def to_dict(self) -> dict[str, Any]:
        return {"patch_size": list(self.patch_size), "network": asdict(self.network),
                "normalization": self.normalization, "median_shape": list(self.median_shape),
                "spacing": list(self.spacing), "data_dims": self.data_dims,
                "batch_size": self.batch_size, "intensity": dict(self.intensity)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(tuple(d["patch_size"]), UNetConfig(**d["network"]), str(d["normalization"]),
                   tuple(d["median_shape"]), tuple(d.get("spacing", ())), int(d.get("data_dims", 2)),
                   int(d.get("batch_size", BATCH_2D)), dict(d.get("intensity", {})))


def _median_shape(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    ordered = [sorted(s[i] for s in shapes) for i in range(len(shapes[0]))]
    return tuple(axis[len(axis) // 2] for axis in ordered)


def _round_up(v: int, m: int) -> int:
    return int(math.ceil(v / m) * m)


def _spatial_dims(config: Config, data_dims: int, spacing: Sequence[float], accelerated: bool) -> int:
    if config.model.spatial_dims is not None:
        if config.model.spatial_dims > data_dims:
            raise ValueError(f"model.spatial_dims={config.model.spatial_dims} but the images are {data_dims}D")
        return config.model.spatial_dims
    # a 3D network needs an accelerator to train in reasonable time (on 2 CPU cores a 2-minute
    # budget finished one epoch of 25 steps of 2 x 32x144x120 patches); thick-slice volumes are
    # better served slice by slice
    return 3 if data_dims == 3 and accelerated and not is_anisotropic(spacing) else 2


def _patch(config: Config, median: tuple[int, ...], dims: int) -> tuple[int, ...]:
    if config.data.patch_size is not None:
        patch = tuple(int(p) for p in config.data.patch_size)
        if len(patch) != dims:
            raise ValueError(f"data.patch_size has {len(patch)} values, the network is {dims}D")
        return patch
    patch = median[-dims:]
    limit = MAX_PATCH_PIXELS_2D if dims == 2 else MAX_PATCH_VOXELS_3D
    while math.prod(patch) > limit:
        # shrink the largest axes first so thin slabs keep their depth
        big = max(patch)
        patch = tuple(max(16, int(p * 0.9)) if p > 0.7 * big else p for p in patch)
    return patch


def make_plan(summary: DatasetSummary, config: Config,
              spacings: Sequence[Sequence[float]] | None = None, accelerated: bool = False) -> Plan:
    """Choose spacing, network dimensionality, patch size, depth and batch size.

    The patch covers a typical image (up to a size that keeps a CPU step near a second), the
    bottleneck keeps at least ``MIN_BOTTLENECK`` pixels per side, and volumes are resampled
    to the median spacing. ``config.data.patch_size`` and ``config.model`` are honoured.

    Parameters
    ----------
    summary : DatasetSummary
    config : Config
    spacings : sequence of sequence of float, optional
        Spacing per array axis of each training image (default: 1.0).
    accelerated : bool
        Training runs on a GPU; only then do volumes get a 3D network by default.
    """
    if summary.labels is None:
        raise ValueError(f"{summary.root}: no label set could be determined")
    shapes = [s for s, n in summary.shapes.items() for _ in range(n)]
    median = _median_shape(shapes)
    data_dims = len(median)
    spacing = target_spacing(spacings) if spacings else (1.0,) * data_dims
    dims = _spatial_dims(config, data_dims, spacing, accelerated)
    patch = _patch(config, median, dims)
    depth = config.model.depth
    while depth > 2 and math.ceil(min(patch) / 2 ** (depth - 1)) < MIN_BOTTLENECK:
        depth -= 1
    net = UNetConfig(
        in_channels=summary.num_channels,
        num_classes=summary.labels.num_classes,
        spatial_dims=dims,
        depth=depth,
        base_width=config.model.base_width,
        max_width=config.model.max_width,
        norm=config.model.norm,
        dropout=config.model.dropout,
    )
    patch = tuple(_round_up(p, net.divisor) for p in patch)
    batch = config.train.batch_size or (BATCH_2D if dims == 2 else BATCH_3D)
    scheme = choose_scheme(config.data.normalization, summary.root, summary.intensity_min,
                           summary.zero_fraction)
    return Plan(patch, net, scheme, median, tuple(spacing), data_dims, batch)
