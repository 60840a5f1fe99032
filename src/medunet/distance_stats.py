"""Boundary metrics summarised over cases: per class, mean and spread where defined, and how many
cases leave them undefined (exactly one mask empty)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypedDict

from medunet.metrics import Stat

__all__ = ["DISTANCE_KEYS", "BoundaryMetrics", "BoundarySummary", "DistanceStat", "summarise_boundary"]

#: the boundary metrics, in the order documents list them
DISTANCE_KEYS = ("hd95", "assd", "nsd")


class BoundaryMetrics(TypedDict):
    """Result of :func:`~medunet.distances.boundary_metrics`; ``None`` where the value is undefined."""

    hd95: float | None
    assd: float | None
    nsd: float


@dataclass(frozen=True)
class DistanceStat(Stat):
    """A :class:`~medunet.metrics.Stat` over the cases where a boundary metric is defined,
    and the number of cases where it is not (exactly one mask empty)."""

    undefined: int = 0

    def to_dict(self) -> dict[str, float | int | None]:
        """``{"mean", "std", "n", "undefined"}`` (``metrics.json``)."""
        return {**super().to_dict(), "undefined": self.undefined}


@dataclass(frozen=True)
class BoundarySummary:
    """Per class, the :class:`DistanceStat` of each boundary metric over cases."""

    hd95: Mapping[str, DistanceStat]
    assd: Mapping[str, DistanceStat]
    nsd: Mapping[str, DistanceStat]

    def to_dict(self) -> dict[str, dict[str, dict[str, float | int | None]]]:
        """``{"hd95" | "assd" | "nsd": {name: {"mean", "std", "n", "undefined"}}}``."""
        return {key: {n: s.to_dict() for n, s in per_class.items()}
                for key, per_class in (("hd95", self.hd95), ("assd", self.assd),
                                       ("nsd", self.nsd))}


def _distance_stat(values: Sequence[float | None]) -> DistanceStat:
    """Mean and population std of the defined values; ``None`` counted as undefined."""
    defined = [float(v) for v in values if v is not None]
    return replace(DistanceStat.of(defined), undefined=len(values) - len(defined))


def summarise_boundary(
    cases: Sequence[Sequence[BoundaryMetrics]], names: Sequence[str]
) -> BoundarySummary:
    """Mean and standard deviation over cases of each boundary metric, per class.

    Parameters
    ----------
    cases : sequence of sequence of BoundaryMetrics
        Per case, one :func:`~medunet.distances.boundary_metrics` result per class of ``names``.
    names : sequence of str
        The class names the inner sequences follow (foreground classes in evaluation).

    Returns
    -------
    BoundarySummary
        Per metric and class, the mean and population std over the cases where the value is
        defined (``n`` of them) and the number of cases where it is ``None`` (exactly one mask
        empty). Cases where both masks are empty are included with their policy values
        (0, 0, 1).

    Examples
    --------
    >>> a = {"hd95": 2.0, "assd": 1.0, "nsd": 0.5}; b = {"hd95": None, "assd": None, "nsd": 0.0}
    >>> summarise_boundary([[a], [b]], ["tumour"]).hd95
    {'tumour': DistanceStat(mean=2.0, std=0.0, n=1, undefined=1)}
    """
    def per_class(key: str) -> dict[str, DistanceStat]:
        return {name: _distance_stat([case[i][key] for case in cases])  # type: ignore[literal-required]
                for i, name in enumerate(names)}

    return BoundarySummary(hd95=per_class("hd95"), assd=per_class("assd"), nsd=per_class("nsd"))
