"""What a training run adds to its validation report: curves, the plan and the model card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReportExtras:
    """Optional report content beyond the metrics document.

    Parameters
    ----------
    figures : mapping of str to bytes
        Extra PNG figures by caption (e.g. ``{"Training curves": png}``).
    plan : mapping, optional
        The run's ``plan.json`` as plain data, shown as a table.
    model_card : str, optional
        The run's ``model_card.md`` (Markdown text), shown as preformatted text.
    notes : tuple of str
        Warnings about the validation (e.g. that it is optimistic), shown under the title.
    selection : mapping, optional
        The run's ``postprocessing.json`` (model selection and post-processing chosen on
        validation), shown as its own section (:mod:`medunet.report.selection_section`).
    """

    figures: Mapping[str, bytes] = field(default_factory=dict)
    plan: Mapping[str, Any] | None = None
    model_card: str | None = None
    notes: tuple[str, ...] = ()
    selection: Mapping[str, Any] | None = None
