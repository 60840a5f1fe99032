"""medunet: train U-Nets for medical image segmentation and report how good they are."""

from __future__ import annotations

from medunet.data import DatasetError, DatasetSummary, LabelSet, inspect_dataset, load_dataset
from medunet.engine.evaluate import Evaluation, evaluate_arrays, evaluate_dirs, write_evaluation
from medunet.io import ImageMeta, read_image, read_mask, write_mask

__version__ = "0.1.0"

__all__ = [
    "DatasetError",
    "DatasetSummary",
    "Evaluation",
    "ImageMeta",
    "LabelSet",
    "evaluate_arrays",
    "evaluate_dirs",
    "inspect_dataset",
    "load_dataset",
    "read_image",
    "read_mask",
    "write_evaluation",
    "write_mask",
]
