"""U-Net (Ronneberger et al. 2015) with same-size output; one definition for 2D and 3D.

Channel widths live in one list (``UNetConfig.widths``, see :mod:`medunet.models.architecture`);
the decoder is derived from the encoder, as in dynamic-network-architectures.
"""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from medunet.models.architecture import UNetConfig
from medunet.models.blocks import ConvBlock, conv_nd, conv_transpose_nd


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
