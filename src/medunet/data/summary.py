"""The summary of a dataset check: what ``medunet inspect`` prints and the trainer reads."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medunet.data.case import Case
from medunet.data.labels import LabelSet
from medunet.data.layouts import LAYOUT_NAMES, Layout
from medunet.errors import Problem
from medunet.io.snap import describe_snapped


@dataclass
class DatasetSummary:
    """What ``medunet inspect`` reports; also the trainer's view of the data.

    Attributes
    ----------
    root : Path
    cases : dict of str to list of Case
    labels : LabelSet or None
        ``None`` only when problems prevented a label set from being found.
    label_pixels : dict of int to int
        Pixel count per mask value over all splits.
    shapes, channels, dtypes : Counter
        Distinct image shapes (array order: ``(H, W)`` or ``(Z, Y, X)``), channel counts and
        stored dtypes with their counts.
    spacings : Counter
        Distinct voxel spacings in mm **per array axis**, i.e. in the order of ``shapes``
        (``(z, y, x)`` for volumes: the reverse of ``ImageMeta.spacing``), rounded to 1e-4.
    intensity_min, intensity_max : float
    zero_fractions : list of float
        Per image, the share of pixels that are zero in every channel.
    binary_255 : int
        Number of masks stored as 0/255 (mapped to 0/1).
    snapped : dict of Path to int
        Lossy (JPEG) masks whose smeared values were snapped to their nearest level, with the
        number of pixels changed in each (:mod:`medunet.io.snap`).
    layout : {"medunet", "nnunet", "msd"}
        The dataset's layout on disk (medunet's, nnU-Net v2's or the Decathlon's).
    with_foreground : dict of str to int
        Per split, cases whose mask has a non-zero pixel.
    problems : list of Problem
    """

    root: Path
    cases: dict[str, list[Case]]
    labels: LabelSet | None
    label_pixels: dict[int, int] = field(default_factory=dict)
    shapes: Counter[tuple[int, ...]] = field(default_factory=Counter)
    channels: Counter[int] = field(default_factory=Counter)
    spacings: Counter[tuple[float, ...]] = field(default_factory=Counter)
    dtypes: Counter[str] = field(default_factory=Counter)
    intensity_min: float = float("inf")
    intensity_max: float = float("-inf")
    zero_fractions: list[float] = field(default_factory=list)
    binary_255: int = 0
    snapped: dict[Path, int] = field(default_factory=dict)
    layout: Layout = "medunet"
    with_foreground: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def zero_fraction(self) -> float:
        """Median share of all-zero pixels per image (0 when no image was read)."""
        return float(np.median(self.zero_fractions)) if self.zero_fractions else 0.0

    @property
    def num_channels(self) -> int:
        """The (single) channel count of the images."""
        return self.channels.most_common(1)[0][0] if self.channels else 1

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        total = sum(self.label_pixels.values()) or 1
        return {
            "root": str(self.root),
            "layout": self.layout,
            "splits": {
                s: {"cases": len(c), "with_foreground": self.with_foreground.get(s, 0)}
                for s, c in self.cases.items()
            },
            "shapes": {"x".join(map(str, k)): v for k, v in sorted(self.shapes.items())},
            "channels": {str(k): v for k, v in sorted(self.channels.items())},
            "spacings": {"x".join(f"{s:g}" for s in k): v for k, v in sorted(self.spacings.items())},
            "dtypes": dict(sorted(self.dtypes.items())),
            "intensity_range": [self.intensity_min, self.intensity_max] if self.shapes else None,
            "zero_background_fraction": self.zero_fraction,
            "labels": self.labels.to_dict() if self.labels else None,
            "labels_declared": bool(self.labels and self.labels.declared),
            "label_pixels": {str(k): v for k, v in sorted(self.label_pixels.items())},
            "label_fraction": {str(k): v / total for k, v in sorted(self.label_pixels.items())},
            "masks_stored_as_0_255": self.binary_255,
            "masks_snapped": {str(p): n for p, n in sorted(self.snapped.items())},
            "problems": [str(p) for p in self.problems],
        }

    def to_text(self) -> str:
        """Human-readable multi-line summary."""
        d = self.to_dict()
        layout = "" if self.layout == "medunet" else f" ({LAYOUT_NAMES[self.layout]} layout)"
        lines = [f"dataset: {self.root}{layout}"]
        for s, info in d["splits"].items():  # type: ignore[attr-defined]
            lines.append(f"  {s:<5} {info['cases']:>5} cases, {info['with_foreground']} with foreground")
        lines.append("  sizes: " + ", ".join(f"{k} ({v})" for k, v in d["shapes"].items()))  # type: ignore[attr-defined]
        lines.append("  spacing (mm, per size axis): "
                     + ", ".join(f"{k} ({v})" for k, v in d["spacings"].items()))  # type: ignore[attr-defined]
        lines.append("  channels: " + ", ".join(f"{k} ({v})" for k, v in d["channels"].items()))  # type: ignore[attr-defined]
        if self.shapes:
            lines.append(f"  intensity range: {self.intensity_min:g} .. {self.intensity_max:g} "
                         f"({', '.join(sorted(self.dtypes))}); median image "
                         f"{100 * self.zero_fraction:.0f} % zero pixels")
        if self.labels:
            kind = "declared" if self.labels.declared else "discovered"
            lines.append(f"  labels ({kind}):")
            width = max(len(n) for n in self.labels.names)
            unit = "vox" if any(len(k) == 3 for k in self.shapes) else "px"
            total = sum(self.label_pixels.values()) or 1
            for v, name in zip(self.labels.values, self.labels.names, strict=True):
                n = self.label_pixels.get(v, 0)
                lines.append(f"    {v:>3} {name:<{width}} {n:>12} {unit}  {100 * n / total:6.2f} %")
        if self.binary_255:
            lines.append(f"  {self.binary_255} masks stored as 0/255 were read as 0/1")
        if self.snapped:
            lines.append(f"  {describe_snapped(self.snapped, limit=20)}")
        lines.append(f"  problems: {len(self.problems)}")
        lines.extend(f"    {p}" for p in self.problems)
        return "\n".join(lines)
