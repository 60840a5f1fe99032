"""Run configuration as frozen dataclasses, with JSON round trip and dotted overrides.

>>> cfg = Config().override(["train.epochs=5", "model.base_width=8"])
>>> cfg.train.epochs, cfg.model.base_width
(5, 8)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medunet.config_values import build, parse_value
from medunet.models.architecture import ModelConfig

Device = Literal["auto", "cpu", "cuda", "mps"]

__all__ = ["AugmentConfig", "Config", "DataConfig", "Device", "ModelConfig", "TrainConfig"]


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is prepared.

    Parameters
    ----------
    root : str
        Dataset folder (``DATA/{train,val,test}/{images,masks}`` or ``DATA/{images,masks}``).
    labels : list of int, optional
        Declared label values; default: ``dataset.json`` or discovered from the masks.
    label_names : list of str, optional
    val_fraction : float
        Share of training cases held out for validation when there is no ``val`` split.
    normalization : {"auto", "zscore", "ct", "none"}
        ``auto``: ``ct`` for CT data (``dataset.json`` says so, or intensities below -500),
        else per-image ``zscore``; see :mod:`medunet.data.normalize`.
    patch_size : list of int, optional
        Training patch ``(H, W)``; default: planned from the median image size.
    snap_masks : bool
        Snap lossy (JPEG) masks to their nearest label levels (``False``: refuse them).
    group_by : str, optional
        Regular expression on the case ids whose first capturing group names the case's group
        (patient, volume), e.g. ``'^(brain\\d+)_'``; validation and folds hold out whole groups.
        Default: ``dataset.json`` ``"groups"``, else a slice-name rule (``brain1_z012`` -> ``brain1``).
    context_slices : int, optional
        2.5D: neighbouring slices on each side given as extra channels when a 2D network runs
        on volumes; default: planned.
    """

    root: str = ""
    labels: list[int] | None = None
    label_names: list[str] | None = None
    val_fraction: float = 0.2
    normalization: Literal["auto", "zscore", "zscore_nonzero", "ct", "none"] = "auto"
    patch_size: list[int] | None = None
    snap_masks: bool = True
    group_by: str | None = None
    context_slices: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.normalization not in ("auto", "zscore", "zscore_nonzero", "ct", "none"):
            raise ValueError("data.normalization must be 'auto', 'zscore', 'zscore_nonzero', 'ct' "
                             f"or 'none', got {self.normalization!r}")
        if self.patch_size is not None and any(int(p) < 8 for p in self.patch_size):
            raise ValueError(f"data.patch_size must be >= 8 per axis, got {self.patch_size}")
        if self.context_slices is not None and not 0 <= self.context_slices <= 8:
            raise ValueError(f"data.context_slices must be in 0..8, got {self.context_slices}")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation; each ``p_*`` is a per-sample probability."""

    flip: bool = True
    rot90: bool = True
    p_affine: float = 0.3
    rotation_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.2)
    p_intensity: float = 0.3
    p_gamma: float = 0.3
    p_noise: float = 0.15
    noise_std: float = 0.1

    def __post_init__(self) -> None:
        for name in ("p_affine", "p_intensity", "p_gamma", "p_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"train.augment.{name} must be in [0, 1], got {getattr(self, name)}")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"train.augment.scale must be [low, high] with 0 < low <= high, got {self.scale}")
        if self.rotation_deg < 0 or self.noise_std < 0:
            raise ValueError("train.augment.rotation_deg and noise_std must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and run control.

    Parameters
    ----------
    epochs : int
        Upper bound on epochs.
    time_budget : float, optional
        Minutes; training stops cleanly when spent and the LR schedule follows elapsed time.
    batch_size : int, optional
        Default: planned (8 for 2D patches, 2 for 3D patches).
    lr : float
        Peak learning rate (AdamW), decayed polynomially to 0.
    weight_decay : float
    grad_clip : float
        Max gradient norm (0 disables).
    iterations_per_epoch : int, optional
        Default: enough batches for one pass over the training set (at least 20).
    patience : int
        Early stopping: stop after this many validations without improvement (0 disables).
    seed : int
    device : {"auto", "cpu", "cuda", "mps"}
    amp : bool
        Mixed precision on CUDA (bf16 where supported).
    foreground_fraction : float, optional
        Share of patches centred on foreground; default: planned (0.33, more for small lesions).
    batch_dice : bool
        Soft Dice over the whole batch (stable) or per sample (small structures weigh as much as
        large ones, matching the mean-over-cases metric).
    folds : int
        ``K > 1``: K-fold cross-validation over train+val (whole groups per fold), the K models
        ensembled at prediction; 1: one training/validation split.
    sampling : {"auto", "pixel", "lesion"}
        Foreground oversampling per foreground pixel or per lesion (connected component: each
        lesion equally likely); ``auto``: planned from the lesion sizes.
    deep_supervision : bool, optional
        Loss on the decoder's lower resolutions too; default: planned.
    loss : str
        Training loss by name (see :mod:`medunet.losses`); ``auto``: planned.
    postprocess : bool
        Choose the foreground threshold and component post-processing on validation (kept only
        where validation Dice rises and no class falls).
    plan : str, optional
        A plan file (``medunet plan DATA --out FILE``) to train with instead of planning.
    """

    epochs: int = 200
    time_budget: float | None = None
    batch_size: int | None = None
    lr: float = 2e-3
    weight_decay: float = 1e-4
    grad_clip: float = 12.0
    iterations_per_epoch: int | None = None
    patience: int = 0
    seed: int = 0
    device: Device = "auto"
    amp: bool = True
    foreground_fraction: float | None = None
    batch_dice: bool = True
    folds: int = 1
    sampling: Literal["auto", "pixel", "lesion"] = "auto"
    deep_supervision: bool | None = None
    loss: str = "auto"
    postprocess: bool = True
    plan: str | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {self.epochs}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"train.time_budget must be > 0 minutes, got {self.time_budget}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise ValueError(f"train.device must be auto, cpu, cuda or mps, got {self.device!r}")
        if self.foreground_fraction is not None and not 0.0 <= self.foreground_fraction <= 1.0:
            raise ValueError(f"train.foreground_fraction must be in [0, 1], got {self.foreground_fraction}")
        if self.folds < 1:
            raise ValueError(f"train.folds must be >= 1, got {self.folds}")
        if self.sampling not in ("auto", "pixel", "lesion"):
            raise ValueError(f"train.sampling must be auto, pixel or lesion, got {self.sampling!r}")


@dataclass(frozen=True)
class Config:
    """Everything a run needs; ``config.json`` in a run folder is this, resolved."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str = "runs/run"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return dataclasses.asdict(self)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from nested plain data; unknown keys raise ``ValueError`` naming the key."""
        return build(cls, data, "")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Config:
        """Read JSON (or YAML when PyYAML is installed)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: config file not found")
        text = p.read_text()
        if p.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise ValueError(f"{p}: YAML configs need PyYAML (pip install pyyaml), or use JSON") from exc
            data = yaml.safe_load(text) or {}
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{p}: expected a mapping of sections (data, model, train)")
        return cls.from_dict(data)

    def override(self, assignments: Sequence[str]) -> Config:
        """Apply ``"section.key=value"`` overrides (values parsed as JSON, else as strings)."""
        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ValueError(f"--set {item!r}: expected key=value, e.g. train.epochs=50")
            key, raw = item.split("=", 1)
            node = data
            parts = key.strip().split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    raise ValueError(f"--set {key}: unknown config section {part!r}")
                node = node[part]
            if parts[-1] not in node:
                raise ValueError(f"--set {key}: unknown config key {parts[-1]!r}; known: "
                                 + ", ".join(sorted(node)))
            node[parts[-1]] = parse_value(raw)
        return Config.from_dict(data)
