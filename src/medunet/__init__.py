"""medunet: train U-Nets for medical image segmentation and report how good they are.

The public API mirrors the CLI: :func:`inspect_dataset`, :func:`train`, :func:`predict` /
:class:`Predictor`, :func:`evaluate`.
"""

from __future__ import annotations

from medunet.api import evaluate
from medunet.config import Config
from medunet.data import DatasetError, DatasetSummary, LabelSet, inspect_dataset, load_dataset
from medunet.engine.evaluate import Evaluation, evaluate_arrays
from medunet.engine.evaluate_files import evaluate_dirs
from medunet.engine.evaluate_output import write_evaluation
from medunet.engine.predict import Predictor, predict
from medunet.engine.train import RunSummary, train
from medunet.io import ImageMeta, read_image, read_mask, write_mask
from medunet.models import UNet, UNetConfig
from medunet.plan import Plan, make_plan

__version__ = "0.1.0"

__all__ = [
    "Config",
    "DatasetError",
    "DatasetSummary",
    "Evaluation",
    "ImageMeta",
    "LabelSet",
    "Plan",
    "Predictor",
    "RunSummary",
    "UNet",
    "UNetConfig",
    "evaluate",
    "evaluate_arrays",
    "evaluate_dirs",
    "inspect_dataset",
    "load_dataset",
    "make_plan",
    "predict",
    "read_image",
    "read_mask",
    "train",
    "write_evaluation",
    "write_mask",
]
