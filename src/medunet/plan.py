"""Plan a network and its training patches from the training cases' fingerprint."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medunet.config import Config
from medunet.data.fingerprint import DatasetFingerprint, median_shape
from medunet.data.labels import LabelSet
from medunet.data.normalize import choose_scheme
from medunet.data.resample import is_anisotropic, resampled_shape, target_spacing
from medunet.models import UNetConfig
from medunet.models.architecture import DEFAULT_DEPTH
from medunet.planning.device_profile import DeviceProfile
from medunet.planning.regime import REGIMES, choose_regime, recipe
from medunet.planning.sizing import context_slices, is_sized, size_network

log = logging.getLogger(__name__)

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
        Median image shape of the training cases after resampling to ``spacing``.
    spacing : tuple of float
        Target spacing per array axis; every image is resampled to it before the network.
    data_dims : int
        2 for images, 3 for volumes (a 2D network on volumes works slice by slice).
    batch_size : int
    intensity : dict
        Statistics the normalisation needs at inference (CT: per-channel clip window, mean, std).
    context_slices : int
        2.5D: slices on each side of a slice given as extra channels (slicewise plans only);
        ``network.in_channels`` is then ``channels * (2 * context_slices + 1)``.
    regime : {"default", "small_structures"}
        Chosen from the fingerprint's lesion sizes and foreground share.
    sampling : {"pixel", "lesion"}
        Foreground patches centred on a random foreground pixel, or on a random lesion
        (connected component) first, so that each lesion is equally likely.
    foreground_fraction : float
        Share of training patches centred on foreground.
    loss : str
        Training loss (see :mod:`medunet.losses`).
    deep_supervision : bool
        Loss on the decoder's lower resolutions too.
    calibration : dict
        What sized the plan to the budget and device: measured seconds per step, steps in the
        budget, the step target, the candidates tried (empty when not calibrated).
    """

    patch_size: tuple[int, ...]
    network: UNetConfig
    normalization: str
    median_shape: tuple[int, ...]
    spacing: tuple[float, ...] = ()
    data_dims: int = 2
    batch_size: int = BATCH_2D
    intensity: dict[str, list[float]] = field(default_factory=dict)
    context_slices: int = 0
    regime: str = "default"
    sampling: str = "pixel"
    foreground_fraction: float = 0.33
    loss: str = "dice_ce"
    deep_supervision: bool = False
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def slicewise(self) -> bool:
        """A 2D network applied to the slices (first axis) of volumes."""
        return self.data_dims == 3 and self.network.spatial_dims == 2

    @property
    def image_channels(self) -> int:
        """Channels of the images the plan takes (``network.in_channels`` without 2.5D context)."""
        return self.network.in_channels // (2 * self.context_slices + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"patch_size": list(self.patch_size), "network": asdict(self.network),
                "normalization": self.normalization, "median_shape": list(self.median_shape),
                "spacing": list(self.spacing), "data_dims": self.data_dims,
                "batch_size": self.batch_size, "intensity": dict(self.intensity),
                "context_slices": self.context_slices, "regime": self.regime,
                "sampling": self.sampling, "foreground_fraction": self.foreground_fraction,
                "loss": self.loss, "deep_supervision": self.deep_supervision,
                "calibration": dict(self.calibration)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        # keys added later have defaults, so plans of older runs still load
        return cls(tuple(d["patch_size"]), UNetConfig(**d["network"]), str(d["normalization"]),
                   tuple(d["median_shape"]), tuple(d.get("spacing", ())), int(d.get("data_dims", 2)),
                   int(d.get("batch_size", BATCH_2D)), dict(d.get("intensity", {})),
                   int(d.get("context_slices", 0)), str(d.get("regime", "default")),
                   str(d.get("sampling", "pixel")), float(d.get("foreground_fraction", 0.33)),
                   str(d.get("loss", "dice_ce")), bool(d.get("deep_supervision", False)),
                   dict(d.get("calibration", {})))


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
    # a 2D network on volumes sees slices of the first axis: its patch is the in-plane (trailing) axes
    patch = median[-dims:]
    limit = MAX_PATCH_PIXELS_2D if dims == 2 else MAX_PATCH_VOXELS_3D
    while math.prod(patch) > limit:
        # shrink the largest axes first so thin slabs keep their depth
        big = max(patch)
        patch = tuple(max(16, int(p * 0.9)) if p > 0.7 * big else p for p in patch)
    return patch


def _depth(config: Config, patch: Sequence[int]) -> int:
    """``model.depth``, lowered until the bottleneck keeps ``MIN_BOTTLENECK`` pixels per side."""
    depth = config.model.depth or DEFAULT_DEPTH
    while depth > 2 and math.ceil(min(patch) / 2 ** (depth - 1)) < MIN_BOTTLENECK:
        depth -= 1
    return depth


def _legacy_network(config: Config, median: tuple[int, ...], dims: int, in_channels: int,
                    num_classes: int) -> tuple[UNetConfig, tuple[int, ...], int]:
    """Network, patch and batch without a budget on the CPU: the median image, CPU patch limits."""
    patch = _patch(config, median, dims)
    net = UNetConfig.resolve(config.model, in_channels=in_channels, num_classes=num_classes,
                             spatial_dims=dims, depth=_depth(config, patch))
    batch = config.train.batch_size or (BATCH_2D if dims == 2 else BATCH_3D)
    return net, tuple(_round_up(p, net.divisor) for p in patch), batch


def _log_plan(plan: Plan, fingerprint: DatasetFingerprint) -> None:
    fractions = fingerprint.class_fractions
    why = (f"budget {plan.calibration.get('budget_minutes')} min: "
           f"{plan.calibration.get('seconds_per_step')} s/step, "
           f"{plan.calibration.get('steps_in_budget')} steps (target {plan.calibration.get('target_steps')})"
           if plan.calibration else "no budget on the CPU: the median image within the CPU limits")
    log.info("planned %dD network%s, widths %s, patch %s, batch %d (%s); regime %s (smallest class "
             "%.2f %% of pixels, %d/%d cases with foreground): %s sampling, foreground fraction %.2f",
             plan.network.spatial_dims, " on slices" if plan.slicewise else "", plan.network.widths,
             plan.patch_size, plan.batch_size, why, plan.regime,
             100 * min(fractions.values(), default=0.0), fingerprint.cases_with_foreground,
             fingerprint.num_cases, plan.sampling, plan.foreground_fraction)


def make_plan(fingerprint: DatasetFingerprint, labels: LabelSet, config: Config, *,
              accelerated: bool = False, device: DeviceProfile | None = None,
              val_cases: int | None = None) -> Plan:
    """Choose spacing, network, patch, batch, normalisation and the training recipe.

    Volumes are resampled to the median spacing. Without a time budget on the CPU (or without
    a ``device`` profile) the patch covers the median resampled image up to a size that keeps a
    CPU step near a second (a 2D network on volumes takes the in-plane, trailing axes), and the
    bottleneck keeps at least ``MIN_BOTTLENECK`` pixels per side. With ``train.time_budget`` or
    an accelerator ``device``, the network, patch and batch come from a ladder of candidates
    timed on the device (:mod:`medunet.planning`): the largest that trains
    ``TARGET_STEPS`` steps in the budget (or, without a budget, that fits the memory).
    ``config.data.patch_size``, ``config.data.normalization``, the ``config.model`` fields that
    are set, ``config.train.batch_size`` and the explicit recipe fields are honoured; ``auto``
    normalisation reads ``config.data.root``'s ``dataset.json`` for the modality. The regime
    (:data:`medunet.planning.regime.REGIMES`) follows the lesion sizes and foreground share;
    slicewise plans get ``context_slices`` neighbours per side as extra channels.

    Parameters
    ----------
    fingerprint : DatasetFingerprint
        Of the training cases only (:func:`medunet.data.fingerprint.fingerprint_cases`).
    labels : LabelSet
        The dataset's labels (the network's classes).
    config : Config
    accelerated : bool
        Training runs on a GPU; only then do volumes get a 3D network by default.
    device : DeviceProfile, optional
        The training device (:func:`medunet.planning.device_profile.profile_for`); needed for
        sizing to the budget. An accelerator profile implies ``accelerated``.
    val_cases : int, optional
        Validation cases (for the validation share of the budget); default: from ``data.val_fraction``.

    Returns
    -------
    Plan
        With empty ``intensity`` (CT statistics are added from the training images).

    Raises
    ------
    ValueError
        ``model.spatial_dims`` above the data's, ``data.patch_size`` of the wrong length, or
        ``data.context_slices`` on a plan that is not slicewise.
    """
    data_dims = fingerprint.data_dims
    spacing = target_spacing(fingerprint.spacings)
    median = median_shape([resampled_shape(s, sp, spacing)
                           for s, sp in zip(fingerprint.shapes, fingerprint.spacings, strict=True)])
    dims = _spatial_dims(config, data_dims, spacing, accelerated or bool(device and device.accelerated))
    regime = choose_regime(fingerprint)
    context = context_slices(config, slicewise=data_dims == 3 and dims == 2,
                             default=REGIMES[regime]["context_slices"])
    channels, classes = fingerprint.channels * (2 * context + 1), labels.num_classes
    calibration: dict[str, object] = {}
    if device is not None and is_sized(config, device):
        net, patch, batch, calibration = size_network(
            config, median, dims, in_channels=channels, num_classes=classes, device=device,
            n_train=fingerprint.num_cases, n_val=val_cases)
    else:
        net, patch, batch = _legacy_network(config, median, dims, channels, classes)
    scheme = choose_scheme(config.data.normalization, Path(config.data.root),
                           fingerprint.intensity_min, fingerprint.zero_fraction)
    plan = Plan(patch, net, scheme, median, spacing, data_dims, batch, context_slices=context,
                regime=regime, calibration=calibration, **recipe(regime, config))
    _log_plan(plan, fingerprint)
    return plan
