"""Datasets on disk: discovering cases, validating them up front, summarising them."""

from medunet.data.cases import Case, DatasetError, Problem, discover_cases, list_images, pair_masks
from medunet.data.check import DatasetSummary, check_dataset, inspect_dataset
from medunet.data.labels import LabelSet, resolve_labels
from medunet.data.layouts import detect_layout

__all__ = [
    "Case",
    "DatasetError",
    "DatasetSummary",
    "LabelSet",
    "Problem",
    "detect_layout",
    "discover_cases",
    "inspect_dataset",
    "list_images",
    "check_dataset",
    "pair_masks",
    "resolve_labels",
]
