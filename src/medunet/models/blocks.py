"""Building blocks shared by 2D and 3D networks: the conv op is picked by ``spatial_dims``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from medunet.models.architecture import Norm


def conv_nd(spatial_dims: int) -> Callable[..., nn.Module]:
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    return {2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]


def conv_transpose_nd(spatial_dims: int) -> Callable[..., nn.Module]:
    """``nn.ConvTranspose2d`` or ``nn.ConvTranspose3d``."""
    return {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[spatial_dims]


def norm_layer(kind: Norm, spatial_dims: int, channels: int) -> nn.Module:
    """A normalisation layer with learnable affine parameters."""
    if kind == "batch":
        return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[spatial_dims](channels)
    if kind == "instance":
        return {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[spatial_dims](channels, affine=True)
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"model.norm must be 'batch', 'instance' or 'group', got {kind!r}")


class ConvBlock(nn.Module):
    """Two ``conv3x3 -> norm -> LeakyReLU`` layers; the first may downsample by its stride.

    Shapes: ``(B, C_in, *S) -> (B, C_out, *S / stride)``.
    """

    def __init__(self, spatial_dims: int, c_in: int, c_out: int, norm: Norm,
                 stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        conv = conv_nd(spatial_dims)
        self.conv1 = conv(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = norm_layer(norm, spatial_dims, c_out)
        self.conv2 = conv(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = norm_layer(norm, spatial_dims, c_out)
        self.act = nn.LeakyReLU(0.01, inplace=True)
        drop = {2: nn.Dropout2d, 3: nn.Dropout3d}[spatial_dims]
        self.dropout = drop(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.conv1(x)))
        x = self.dropout(x)
        return self.act(self.norm2(self.conv2(x)))
