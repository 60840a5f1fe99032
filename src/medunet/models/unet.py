"""U-Net (Ronneberger et al. 2015) with same-size output; one definition for 2D and 3D.

Channel widths live in one list (``UNetConfig.widths``); the decoder is derived from the
encoder, as in dynamic-network-architectures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from medunet.models.blocks import ConvBlock, Norm, conv_nd, conv_transpose_nd


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a U-Net.

    Parameters
    ----------
    in_channels : int
        Image channels ``C``.
    num_classes : int
        Output classes ``K`` (background included; 2 for a binary task).
    spatial_dims : int
        2 or 3.
    depth : int
        Resolution levels; the input size must be divisible by ``2 ** (depth - 1)``
        (the predictor pads for you).
    base_width : int
        Channels at full resolution; doubled per level up to ``max_width``.
    max_width : int
    norm : {"batch", "instance", "group"}
    dropout : float
        Dropout probability inside the bottleneck-side blocks (0 disables).
    """

    in_channels: int = 1
    num_classes: int = 2
    spatial_dims: int = 2
    depth: int = 5
    base_width: int = 32
    max_width: int = 320
    norm: Norm = "instance"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"model.spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if not 2 <= self.depth <= 8:
            raise ValueError(f"model.depth must be in 2..8, got {self.depth}")
        if self.base_width < 1 or self.max_width < self.base_width:
            raise ValueError("model.base_width must be >= 1 and <= model.max_width")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.norm not in ("batch", "instance", "group"):
            raise ValueError(f"model.norm must be batch, instance or group, got {self.norm!r}")

    @property
    def widths(self) -> list[int]:
        """Channels per level, full resolution first."""
        return [min(self.base_width * 2**i, self.max_width) for i in range(self.depth)]

    @property
    def divisor(self) -> int:
        """Input sizes must be multiples of this."""
        return 2 ** (self.depth - 1)


class UNet(nn.Module):
    """U-Net: ``(B, C, *S) -> logits (B, K, *S)`` for ``S`` divisible by ``cfg.divisor``.

    Examples
    --------
    >>> net = UNet(UNetConfig(in_channels=1, num_classes=3, depth=3, base_width=4))
    >>> net(torch.zeros(2, 1, 16, 24)).shape
    torch.Size([2, 3, 16, 24])
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, w = cfg.spatial_dims, cfg.widths
        drop = [cfg.dropout if i >= cfg.depth - 2 else 0.0 for i in range(cfg.depth)]
        self.encoder = nn.ModuleList(
            ConvBlock(d, cfg.in_channels if i == 0 else w[i - 1], w[i], cfg.norm,
                      stride=1 if i == 0 else 2, dropout=drop[i])
            for i in range(cfg.depth)
        )
        up = conv_transpose_nd(d)
        self.upsample = nn.ModuleList(
            up(w[i + 1], w[i], kernel_size=2, stride=2, bias=False) for i in reversed(range(cfg.depth - 1))
        )
        self.decoder = nn.ModuleList(
            ConvBlock(d, 2 * w[i], w[i], cfg.norm) for i in reversed(range(cfg.depth - 1))
        )
        self.head = conv_nd(d)(w[0], cfg.num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for up, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)

    def config_dict(self) -> dict[str, object]:
        """The architecture as plain data (stored in checkpoints)."""
        return asdict(self.cfg)
