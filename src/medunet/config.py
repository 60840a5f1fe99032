"""Run configuration as frozen dataclasses, with JSON round trip and dotted overrides.

>>> cfg = Config().override(["train.epochs=5", "model.base_width=8"])
>>> cfg.train.epochs, cfg.model.base_width
(5, 8)
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

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
    """

    root: str = ""
    labels: list[int] | None = None
    label_names: list[str] | None = None
    val_fraction: float = 0.2
    normalization: Literal["auto", "zscore", "zscore_nonzero", "ct", "none"] = "auto"
    patch_size: list[int] | None = None
    snap_masks: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.normalization not in ("auto", "zscore", "zscore_nonzero", "ct", "none"):
            raise ValueError("data.normalization must be 'auto', 'zscore', 'zscore_nonzero', 'ct' "
                             f"or 'none', got {self.normalization!r}")
        if self.patch_size is not None and any(int(p) < 8 for p in self.patch_size):
            raise ValueError(f"data.patch_size must be >= 8 per axis, got {self.patch_size}")


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
    foreground_fraction : float
        Share of patches centred on a foreground pixel.
    batch_dice : bool
        Soft Dice over the whole batch (stable) or per sample (small structures weigh as much as
        large ones, matching the mean-over-cases metric).
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
    foreground_fraction: float = 0.33
    batch_dice: bool = True
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
        return _build(cls, data, "")

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
            node[parts[-1]] = _parse_value(raw)
        return Config.from_dict(data)


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if raw.lower() in ("none", "null"):
            return None
        return raw


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"config {prefix or 'root'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown config key {prefix + unknown[0]!r}; known: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")  # type: ignore[arg-type]
        else:
            kwargs[name] = _coerce(value, hint, prefix + name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"config {prefix or 'root'}: {exc}") from exc


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check and convert a JSON value to the field's annotated type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {value!r}")
        return value
    return value
