"""The one way a network is built from a plan (training, the run's final report, prediction)."""

from __future__ import annotations

from typing import Protocol

from medunet.models.architecture import UNetConfig
from medunet.models.unet import UNet


class _Planned(Protocol):
    """What the factory reads of a :class:`medunet.plan.Plan`."""

    @property
    def network(self) -> UNetConfig: ...

    @property
    def deep_supervision(self) -> bool: ...


def build_model(network: UNetConfig, deep_supervision: bool = False) -> UNet:
    """A U-Net of ``network``, with deep-supervision heads when asked (see :class:`UNet`)."""
    return UNet(network, deep_supervision=deep_supervision)


def model_for(plan: _Planned) -> UNet:
    """The network of ``plan`` (a :class:`medunet.plan.Plan`): ``plan.network``, with
    ``plan.deep_supervision``'s heads. Checkpoints of plans without deep supervision hold
    exactly a plain :class:`UNet`'s state dict.

    Examples
    --------
    >>> from medunet.plan import Plan
    >>> net = model_for(Plan((16, 16), UNetConfig(depth=4, base_width=4), "zscore", (16, 16),
    ...                      deep_supervision=True))
    >>> len(net.ds_heads)
    1
    """
    return build_model(plan.network, plan.deep_supervision)
