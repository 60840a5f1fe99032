"""U-Net (Ronneberger et al. 2015) with same-size output; one definition for 2D and 3D.

Channel widths live in one list (``UNetConfig.widths``, see :mod:`medunet.models.architecture`);
the decoder is derived from the encoder, as in dynamic-network-architectures. With deep
supervision, 1x1 heads on the decoder's lower resolutions add logits that only training sees.
"""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from medunet.models.architecture import UNetConfig
from medunet.models.blocks import ConvBlock, conv_nd, conv_transpose_nd


def supervised_levels(depth: int) -> list[int]:
    """Decoder levels below full resolution that get a deep-supervision head: ``1 .. depth - 3``.

    Level ``i`` has ``1 / 2**i`` of the input's size per axis. As in nnU-Net, the two lowest
    resolutions (the bottleneck and the decoder's lowest stage) get none; a depth of 3 or less
    has no extra head at all.
    """
    return list(range(1, depth - 2))


class UNet(nn.Module):
    """U-Net: ``(B, C, *S) -> logits (B, K, *S)`` for ``S`` divisible by ``cfg.divisor``.

    With ``deep_supervision`` the network has a 1x1 head ``ds_heads[j]`` for each level of
    :func:`supervised_levels`; in training mode it returns the list ``[full resolution, level 1,
    level 2, ...]`` of logits, in eval mode only the full-resolution logits (prediction,
    validation and ONNX export see a plain U-Net). Without it there are no extra parameters,
    so the state dict is the plain U-Net's.

    Examples
    --------
    >>> net = UNet(UNetConfig(in_channels=1, num_classes=3, depth=3, base_width=4))
    >>> net(torch.zeros(2, 1, 16, 24)).shape
    torch.Size([2, 3, 16, 24])
    """

    def __init__(self, cfg: UNetConfig, deep_supervision: bool = False) -> None:
        super().__init__()
        self.cfg, self.deep_supervision = cfg, deep_supervision
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
        levels = supervised_levels(cfg.depth) if deep_supervision else []
        if levels:  # registered only when used: plain checkpoints keep their keys
            self.ds_heads = nn.ModuleList(conv_nd(d)(w[i], cfg.num_classes, kernel_size=1) for i in levels)
        self._levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Full-resolution logits; in training mode with deep supervision, the list of every
        supervised resolution's logits, full resolution first."""
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        deep = self.training and bool(self._levels)
        lower: dict[int, torch.Tensor] = {}
        for up, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
            if deep and len(skips) in self._levels:  # the level this decoder stage produced
                lower[len(skips)] = x
        if not deep:
            return self.head(x)
        return [self.head(x), *(h(lower[i]) for h, i in zip(self.ds_heads, self._levels, strict=True))]

    def config_dict(self) -> dict[str, object]:
        """The architecture as plain data (stored in checkpoints)."""
        return asdict(self.cfg)
