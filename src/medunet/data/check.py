"""Up-front validation of a whole dataset, collecting a summary on the same pass over the files."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medunet.data.cases import Case, discover_cases, read_case_image
from medunet.data.labels import MAX_CLASSES, LabelSet, resolve_labels
from medunet.errors import DatasetError, Problem
from medunet.io import ImageMeta, geometry_difference, read_mask
from medunet.io.meta import array_spacing

log = logging.getLogger(__name__)

MIN_SIDE = 8


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
            "problems": [str(p) for p in self.problems],
        }

    def to_text(self) -> str:
        """Human-readable multi-line summary."""
        d = self.to_dict()
        lines = [f"dataset: {self.root}"]
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
        lines.append(f"  problems: {len(self.problems)}")
        lines.extend(f"    {p}" for p in self.problems)
        return "\n".join(lines)


def _rounded_spacing(meta: ImageMeta) -> tuple[float, ...]:
    """Spacing per array axis, rounded for counting."""
    return tuple(round(v, 4) for v in array_spacing(meta))


def _check_case(case: Case, s: DatasetSummary, declared: LabelSet | None) -> None:
    img: np.ndarray | None = None
    try:
        img, imeta = read_case_image(case)
    except (OSError, ValueError) as exc:
        s.problems.append(problem_from_error(exc, case.image_files))
    mask = None
    if case.mask is not None:
        try:
            mask, mmeta = read_mask(case.mask)
            s.binary_255 += int(mmeta.binary_255)
        except (OSError, ValueError) as exc:
            s.problems.append(problem_from_error(exc, [case.mask]))
    if img is not None:
        s.shapes[imeta.shape] += 1
        s.spacings[_rounded_spacing(imeta)] += 1
        s.channels[img.shape[0]] += 1
        s.dtypes[imeta.dtype] += 1
        s.intensity_min = min(s.intensity_min, float(img.min()))
        s.intensity_max = max(s.intensity_max, float(img.max()))
        s.zero_fractions.append(float((img == 0).all(axis=0).mean()))
        if min(imeta.shape) < MIN_SIDE:
            s.problems.append(Problem(case.image, f"image is {'x'.join(map(str, imeta.shape))} "
                                                  f"pixels; at least {MIN_SIDE} per side is needed"))
    if mask is None or case.mask is None:
        return
    if img is not None and imeta.mode == "volume" and tuple(mask.shape) == imeta.shape:
        diff = geometry_difference(imeta, mmeta)
        if diff is not None:
            s.problems.append(Problem(case.mask, f"mask geometry does not match its image "
                                                 f"{case.image.name}: {diff} (image vs mask); "
                                                 "resample the mask onto the image's grid"))
            return
    _check_mask(case, case.mask, mask, img, s, declared)


def _check_mask(case: Case, mask_path: Path, mask: np.ndarray, img: np.ndarray | None,
                s: DatasetSummary, declared: LabelSet | None) -> None:
    if img is not None and tuple(mask.shape) != tuple(img.shape[1:]):
        s.problems.append(Problem(mask_path, f"mask size {_hw(mask.shape)} does not match its image "
                                             f"{case.image.name} ({_hw(img.shape[1:])})"))
        return
    counts = np.bincount(mask.ravel())
    values = np.flatnonzero(counts)
    if values.size and values[-1] >= MAX_CLASSES:
        s.problems.append(Problem(mask_path, f"mask holds {values.size} distinct values up to "
                                             f"{values[-1]}; at most {MAX_CLASSES} classes are supported"))
        return
    if declared is not None:
        bad = [int(v) for v in values if v not in declared.values]
        if bad:
            s.problems.append(Problem(mask_path, f"mask value(s) {bad} outside the declared labels "
                                                 f"{list(declared.values)}"))
    for v in values:
        s.label_pixels[int(v)] = s.label_pixels.get(int(v), 0) + int(counts[v])
    if values.size and values[-1] > 0:
        s.with_foreground[case.split] = s.with_foreground.get(case.split, 0) + 1


def _hw(shape: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in shape)


def _named_path(exc: BaseException, paths: Sequence[Path]) -> Path:
    """The file an error message starts with (a case's channel files), else the first."""
    msg = str(exc)
    return next((p for p in paths if msg.startswith(f"{p}: ")), paths[0])


def _reason(exc: BaseException, path: Path) -> str:
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def problem_from_error(exc: BaseException, paths: Sequence[Path]) -> Problem:
    """The problem a reader's error describes, on the file it names (else the first of ``paths``)."""
    path = _named_path(exc, paths)
    return Problem(path, _reason(exc, path))


def _discovered_labels(s: DatasetSummary) -> None:
    """Label set from the mask values seen (no declaration); a problem when they have gaps."""
    values = sorted(s.label_pixels)
    s.labels = LabelSet.from_count(max(values[-1] + 1, 2), declared=False)  # all background: binary
    if values != list(range(values[-1] + 1)):
        s.problems.append(Problem(s.root, f"mask values {values} are not 0..K-1 without gaps; "
                                          "declare them with --labels or dataset.json, or remap"))


def inspect_dataset(root: str | os.PathLike[str], labels: LabelSet | None = None) -> DatasetSummary:
    """Read every file of a dataset once and report what is there and what is wrong.

    Parameters
    ----------
    root : path-like
        Dataset folder (see :func:`medunet.data.discover_cases` for layouts).
    labels : LabelSet, optional
        The declared labels: a mask value outside them is a problem of that mask. Default:
        ``root/dataset.json``'s, else the values found in the masks (which must be 0..K-1).
        Build one from user input with :meth:`LabelSet.from_values` or
        :func:`medunet.data.labels.resolve_labels`.

    Returns
    -------
    DatasetSummary
        With ``problems`` listing every problem found (empty when the dataset is usable).

    Raises
    ------
    DatasetError
        The root is missing or has no recognisable layout.
    TypeError
        ``labels`` is not a :class:`LabelSet` (e.g. a plain list of values).
    ValueError
        ``root/dataset.json`` cannot be read.

    Examples
    --------
    >>> s = inspect_dataset("data", LabelSet.from_values([0, 1], ["bg", "cell"]))  # doctest: +SKIP
    >>> [str(p) for p in s.problems]                                             # doctest: +SKIP
    []
    """
    if labels is not None and not isinstance(labels, LabelSet):
        raise TypeError(f"labels must be a LabelSet, got {type(labels).__name__}; build one with "
                        "LabelSet.from_values([0, 1, ...], names)")
    root = Path(root)
    cases, problems = discover_cases(root)
    declared = labels if labels is not None else resolve_labels(root)
    s = DatasetSummary(root=root, cases=cases, labels=declared, problems=problems)
    for split_cases in cases.values():
        for case in split_cases:
            _check_case(case, s, declared)
    if len(s.channels) > 1:
        s.problems.append(Problem(root, "images have different channel counts "
                                        f"{dict(s.channels)}; convert them to one (all grey or all RGB)"))
    if declared is None and s.label_pixels:
        _discovered_labels(s)
    if s.binary_255:
        log.info("%d masks stored as 0/255 were read as 0/1", s.binary_255)
    return s


def check_dataset(root: str | os.PathLike[str], labels: LabelSet | None = None) -> DatasetSummary:
    """Like :func:`inspect_dataset` but raise :class:`DatasetError` listing every problem."""
    s = inspect_dataset(root, labels)
    if s.problems:
        raise DatasetError(s.problems)
    return s
