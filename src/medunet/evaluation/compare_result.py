"""The result of ``medunet compare``: per-case values of several methods and each against the first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.comparison import PairedComparison

__all__ = ["Comparison"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Several methods on the same cases: per-case values and each method against the first."""

    metric: str
    higher_is_better: bool
    methods: tuple[str, ...]
    folders: tuple[Path, ...]
    reference: Path
    #: method -> case id -> value (``None``: undefined), cases in the reference's order
    values: Mapping[str, Mapping[str, float | None]]
    #: each method after the first against the first
    pairs: tuple[PairedComparison, ...]
    #: each method's evaluation against the reference folder
    evaluations: tuple[Evaluation, ...]

    @property
    def case_ids(self) -> list[str]:
        """The compared cases, in the reference's order."""
        return list(self.values[self.methods[0]])

    def to_dict(self) -> dict[str, Any]:
        """``compare.json``: the metric, the methods and their folders, every pair, and the
        per-case values."""
        return {"metric": self.metric, "higher_is_better": self.higher_is_better,
                "reference": str(self.reference),
                "methods": {m: str(f) for m, f in zip(self.methods, self.folders, strict=True)},
                "num_cases": len(self.case_ids),
                "comparisons": [p.to_dict() for p in self.pairs],
                "per_case": [{"case": c, **{m: self.values[m][c] for m in self.methods}}
                             for c in self.case_ids]}

    def csv_rows(self) -> list[list[object]]:
        """``compare.csv``: a header, then per case each method's value and each difference
        ``<B>-<A>`` (empty where undefined)."""
        a = self.methods[0]
        header: list[object] = ["case", *self.methods, *(f"{b}-{a}" for b in self.methods[1:])]
        rows = [header]
        for c in self.case_ids:
            vals = [self.values[m][c] for m in self.methods]
            diffs = [None if vals[0] is None or v is None else v - vals[0] for v in vals[1:]]
            rows.append([c, *("" if v is None else v for v in (*vals, *diffs))])
        return rows
