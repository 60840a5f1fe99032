"""Datasets on disk: discovering cases, validating them up front, summarising them."""

from medunet.data.cases import Case, DatasetError, Problem, discover_cases, list_images, pair_masks
from medunet.data.labels import LabelSet, resolve_labels
from medunet.data.validate import DatasetSummary, inspect_dataset, load_dataset

__all__ = [
    "Case",
    "DatasetError",
    "DatasetSummary",
    "LabelSet",
    "Problem",
    "discover_cases",
    "inspect_dataset",
    "list_images",
    "load_dataset",
    "pair_masks",
    "resolve_labels",
]
