"""The U-Net architecture as plain data: what a run chooses, and what a network is built from.

One definition with one set of defaults: :class:`ModelConfig` is the ``model`` section of a run's
config; :class:`UNetConfig` is the same architecture resolved for one dataset (channels, classes,
dimensionality, planned depth). Torch-free, so :mod:`medunet.config` (which the CLI imports before
torch) can use it.

>>> net = UNetConfig.resolve(ModelConfig(depth=4), in_channels=3, num_classes=2, spatial_dims=2)
>>> net.widths, net.divisor
([16, 32, 64, 128], 8)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

Norm = Literal["batch", "instance", "group"]
#: what a network gets for the ``model`` fields left to the plan when nothing sizes them
DEFAULT_DEPTH, DEFAULT_BASE_WIDTH, DEFAULT_MAX_WIDTH = 5, 16, 256


@dataclass(frozen=True)
class ModelConfig:
    """U-Net architecture as a run chooses it (the ``model`` section of a config).

    Parameters
    ----------
    spatial_dims : {2, 3}, optional
        ``None`` lets the plan choose: 2 for 2D images and for anisotropic (thick-slice)
        volumes, which are then trained slice by slice; 3 for other volumes on an accelerator.
    depth : int, optional
        Resolution levels (2..8); the plan lowers it when the patch is too small for the
        bottleneck. Input sizes must be divisible by ``2 ** (depth - 1)`` (the predictor pads).
        ``None`` (default): planned (5 on the CPU without a time budget).
    base_width : int, optional
        Channels at full resolution; doubled per level up to ``max_width``. ``None``: planned
        (16 on the CPU without a time budget).
    max_width : int, optional
        ``None``: planned (256 on the CPU without a time budget).
    norm : {"batch", "instance", "group"}
    dropout : float
        Dropout probability inside the two deepest encoder blocks (0 disables).

    Raises
    ------
    ValueError
        A value outside its range, naming the ``model.*`` key.
    """

    spatial_dims: int | None = None
    # None = planned (the time budget and the device size the network); set = the user's choice
    depth: int | None = None
    base_width: int | None = None
    max_width: int | None = None
    norm: Norm = "batch"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.spatial_dims not in (None, 2, 3):
            raise ValueError(f"model.spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if self.depth is not None and not 2 <= self.depth <= 8:
            raise ValueError(f"model.depth must be in 2..8, got {self.depth}")
        base, top = self.base_width, self.max_width
        if (base is not None and base < 1) or (top is not None and top < (base or 1)):
            raise ValueError("model.base_width must be >= 1 and <= model.max_width, got "
                             f"base_width={self.base_width}, max_width={self.max_width}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.norm not in ("batch", "instance", "group"):
            raise ValueError(f"model.norm must be batch, instance or group, got {self.norm!r}")


@dataclass(frozen=True)
class UNetConfig(ModelConfig):
    """A network's architecture: a :class:`ModelConfig` resolved for one dataset.

    Stored as plain data (``dataclasses.asdict``) in ``plan.json`` and checkpoints.

    Parameters
    ----------
    spatial_dims : {2, 3}
        Fixed here (default 2).
    in_channels : int
        Image channels ``C``.
    num_classes : int
        Output classes ``K`` (background included; 2 for a binary task).
    depth, base_width, max_width, norm, dropout
        As in :class:`ModelConfig`.
    """

    spatial_dims: int = 2
    depth: int = DEFAULT_DEPTH
    base_width: int = DEFAULT_BASE_WIDTH
    max_width: int = DEFAULT_MAX_WIDTH
    in_channels: int = 1
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"model.spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if self.in_channels < 1 or self.num_classes < 2:
            raise ValueError("a U-Net needs in_channels >= 1 and num_classes >= 2, got "
                             f"in_channels={self.in_channels}, num_classes={self.num_classes}")

    @classmethod
    def resolve(cls, model: ModelConfig, *, in_channels: int, num_classes: int, spatial_dims: int,
                depth: int | None = None) -> UNetConfig:
        """The network for ``model`` on data with ``in_channels`` and ``num_classes``.

        Parameters
        ----------
        model : ModelConfig
            The chosen architecture; every field carries over except those given here.
        in_channels, num_classes, spatial_dims : int
        depth : int, optional
            The planned depth (default: ``model.depth``).
        """
        chosen = {f.name: getattr(model, f.name) for f in fields(ModelConfig)}
        chosen.update(spatial_dims=spatial_dims, depth=depth or model.depth or DEFAULT_DEPTH,
                      base_width=model.base_width or DEFAULT_BASE_WIDTH,
                      max_width=model.max_width or max(DEFAULT_MAX_WIDTH, model.base_width or 0))
        return cls(**chosen, in_channels=in_channels, num_classes=num_classes)

    @property
    def widths(self) -> list[int]:
        """Channels per level, full resolution first."""
        return [min(self.base_width * 2**i, self.max_width) for i in range(self.depth)]

    @property
    def divisor(self) -> int:
        """Input sizes must be multiples of this."""
        return 2 ** (self.depth - 1)
