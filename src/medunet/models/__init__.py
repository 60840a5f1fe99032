"""Network definitions."""

from medunet.models.unet import UNet, UNetConfig

__all__ = ["UNet", "UNetConfig"]
