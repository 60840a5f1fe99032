"""medunet: train U-Nets for medical image segmentation and report how good they are.

The public API mirrors the CLI, one function per command: :func:`inspect_dataset`, :func:`train`,
:func:`predict` / :class:`Predictor`, :func:`evaluate`, :func:`export_model`, :func:`compare`. Names are imported on
first use (PEP 562), so ``import medunet`` and model-free evaluation never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medunet.version import __version__ as __version__

#: public name -> module that defines it
_EXPORTS = {
    "Config": "medunet.config",
    "DatasetError": "medunet.errors",
    "DatasetSummary": "medunet.data.check",
    "LabelSet": "medunet.data.labels",
    "inspect_dataset": "medunet.data.check",
    "check_dataset": "medunet.data.check",
    "Evaluation": "medunet.evaluation.arrays",
    "evaluate_arrays": "medunet.evaluation.arrays",
    "evaluate_dirs": "medunet.evaluation.files",
    "write_evaluation": "medunet.evaluation.writing",
    "evaluate": "medunet.evaluation",
    "compare": "medunet.evaluation.compare_folders",
    "Comparison": "medunet.evaluation.compare_result",
    "BootstrapOptions": "medunet.evaluation.intervals",
    "LesionSettings": "medunet.evaluation.lesions",
    "DistanceSettings": "medunet.distances",
    "Predictor": "medunet.inference.predictor",
    "predict": "medunet.inference.predictor",
    "TrainResult": "medunet.training.state",
    "train": "medunet.training",
    "export_model": "medunet.export",
    "ImageMeta": "medunet.io.meta",
    "read_image": "medunet.io",
    "read_mask": "medunet.io",
    "write_mask": "medunet.io",
    "UNet": "medunet.models.unet",
    "UNetConfig": "medunet.models.unet",
    "Plan": "medunet.plan",
    "make_plan": "medunet.plan",
}

__all__ = [
    "BootstrapOptions",
    "Comparison",
    "Config",
    "DatasetError",
    "DatasetSummary",
    "DistanceSettings",
    "Evaluation",
    "ImageMeta",
    "LabelSet",
    "LesionSettings",
    "Plan",
    "Predictor",
    "TrainResult",
    "UNet",
    "UNetConfig",
    "check_dataset",
    "compare",
    "evaluate",
    "evaluate_arrays",
    "evaluate_dirs",
    "export_model",
    "inspect_dataset",
    "make_plan",
    "predict",
    "read_image",
    "read_mask",
    "train",
    "write_evaluation",
    "write_mask",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'medunet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # the type checker sees the real names
    from medunet.config import Config
    from medunet.data.check import DatasetSummary, check_dataset, inspect_dataset
    from medunet.data.labels import LabelSet
    from medunet.distances import DistanceSettings
    from medunet.errors import DatasetError
    from medunet.evaluation import evaluate
    from medunet.evaluation.arrays import Evaluation, evaluate_arrays
    from medunet.evaluation.compare_folders import compare
    from medunet.evaluation.compare_result import Comparison
    from medunet.evaluation.files import evaluate_dirs
    from medunet.evaluation.intervals import BootstrapOptions
    from medunet.evaluation.lesions import LesionSettings
    from medunet.evaluation.writing import write_evaluation
    from medunet.export import export_model
    from medunet.inference.predictor import Predictor, predict
    from medunet.io import read_image, read_mask, write_mask
    from medunet.io.meta import ImageMeta
    from medunet.models.unet import UNet, UNetConfig
    from medunet.plan import Plan, make_plan
    from medunet.training import train
    from medunet.training.state import TrainResult
