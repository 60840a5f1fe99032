"""Sizing the network, patch and batch to the time budget and the device (the ladder path of
:func:`medunet.plan.make_plan`), and the 2.5D context of slicewise plans."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from medunet.config import Config
from medunet.models import UNetConfig
from medunet.planning.budget import size_to_budget, validation_share
from medunet.planning.device_profile import DeviceProfile
from medunet.planning.ladder import build_ladder

#: 2.5D: slices on each side of a slice that a 2D network on volumes sees by default


def context_slices(config: Config, slicewise: bool, default: int = 0) -> int:
    """``data.context_slices`` (else ``default``, the regime's) for slicewise plans, else 0.

    Raises
    ------
    ValueError
        ``data.context_slices > 0`` for a plan that is not slicewise.
    """
    chosen = config.data.context_slices
    if not slicewise:
        if chosen:
            raise ValueError(f"data.context_slices={chosen} needs a 2D network on volumes; the plan "
                             "is not slicewise: remove data.context_slices or set model.spatial_dims=2")
        return 0
    return default if chosen is None else int(chosen)


def is_sized(config: Config, device: DeviceProfile | None) -> bool:
    """Whether the ladder sizes the plan: a device profile and a time budget or an accelerator."""
    return device is not None and (config.train.time_budget is not None or device.accelerated)


def size_network(config: Config, median: Sequence[int], dims: int, *, in_channels: int,
                 num_classes: int, device: DeviceProfile, n_train: int, n_val: int | None = None
                 ) -> tuple[UNetConfig, tuple[int, ...], int, dict[str, Any]]:
    """The network, patch and batch from the ladder that fit ``device`` and ``train.time_budget``.

    Parameters
    ----------
    config : Config
        ``model.*``, ``train.batch_size`` and ``data.patch_size`` that are set win over the ladder.
    median : sequence of int
        Median resampled training image (all data axes).
    dims : int
        The network's dimensionality.
    in_channels, num_classes : int
    device : DeviceProfile
    n_train : int
        Training cases.
    n_val : int, optional
        Validation cases; default: estimated from ``data.val_fraction``.

    Returns
    -------
    UNetConfig, tuple of int, int, dict
        Network, patch, batch and ``plan.calibration``.
    """
    patch = config.data.patch_size
    if patch is not None and len(patch) != dims:
        raise ValueError(f"data.patch_size has {len(patch)} values, the network is {dims}D")
    ladder = build_ladder(median, dims, config.model, in_channels=in_channels,
                          num_classes=num_classes, device_kind=device.kind,
                          batch=config.train.batch_size, patch=patch)
    vf = config.data.val_fraction
    val = n_val if n_val is not None else max(1, round(n_train * vf / (1 - vf)))
    iters = config.train.iterations_per_epoch
    chosen, calibration = size_to_budget(
        ladder, device, config.train.time_budget,
        lambda c: validation_share(c, median, n_train, val, iters))
    model = dataclasses.replace(config.model, base_width=chosen.base_width,
                                max_width=chosen.max_width)
    net = UNetConfig.resolve(model, in_channels=in_channels, num_classes=num_classes,
                             spatial_dims=dims, depth=chosen.depth)
    return net, chosen.patch, chosen.batch, calibration
