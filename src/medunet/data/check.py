"""Up-front validation of a whole dataset, collecting a summary on the same pass over the files."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medunet.data.cases import Case, discover_cases, read_case_image
from medunet.data.labels import MAX_CLASSES, LabelSet, resolve_labels
from medunet.data.layouts import detect_layout
from medunet.data.summary import DatasetSummary
from medunet.errors import DatasetError, Problem
from medunet.io import ImageMeta, geometry_difference, read_mask
from medunet.io.meta import array_spacing
from medunet.io.snap import describe_snapped, is_lossy

__all__ = ["MIN_SIDE", "DatasetSummary", "check_dataset", "inspect_dataset", "problem_from_error"]

log = logging.getLogger(__name__)

MIN_SIDE = 8


def _rounded_spacing(meta: ImageMeta) -> tuple[float, ...]:
    """Spacing per array axis, rounded for counting."""
    return tuple(round(v, 4) for v in array_spacing(meta))


def _check_case(case: Case, s: DatasetSummary, declared: LabelSet | None, snap_masks: bool) -> None:
    img: np.ndarray | None = None
    try:
        img, imeta = read_case_image(case)
    except (OSError, ValueError) as exc:
        s.problems.append(problem_from_error(exc, case.image_files))
    mask = None
    if case.mask is not None:
        try:
            mask, mmeta = read_mask(case.mask, snap_masks=snap_masks)
            s.binary_255 += int(mmeta.binary_255)
            if mmeta.snapped_pixels:
                s.snapped[case.mask] = mmeta.snapped_pixels
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
        s.problems.append(Problem(mask_path, _too_many_values(mask_path, values)))
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


def _too_many_values(mask_path: Path, values: np.ndarray) -> str:
    """Why a mask's values cannot be labels, and the fix."""
    shown = ", ".join(map(str, values[:4])) + (f", ..., {values[-1]}" if values.size > 4 else "")
    if values.size > MAX_CLASSES:
        what = (f"mask holds {values.size} distinct values up to {values[-1]}; at most {MAX_CLASSES} "
                "classes are supported")
    else:
        what = (f"mask value {values[-1]} is too high for a label: labels are 0..{MAX_CLASSES - 1} "
                f"(found {values.size} distinct values: {shown})")
    if is_lossy(mask_path):
        return f"{what}; its values are too smeared to snap to a few levels: save the masks as PNG"
    return (f"{what}; values in between levels come from resizing a mask with interpolation or "
            "saving it lossily: resize masks with nearest-neighbour and save them as PNG, labels "
            "0..K-1 (binary masks as 0/1 or 0/255)")


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


def inspect_dataset(root: str | os.PathLike[str], labels: LabelSet | None = None, *,
                    snap_masks: bool = True) -> DatasetSummary:
    """Read every file of a dataset once and report what is there and what is wrong.

    Parameters
    ----------
    root : path-like
        Dataset folder in any layout :func:`medunet.data.discover_cases` reads (medunet's,
        nnU-Net v2's, the Decathlon's).
    labels : LabelSet, optional
        The declared labels: a mask value outside them is a problem of that mask. Default:
        ``root/dataset.json``'s, else the values found in the masks (which must be 0..K-1).
        Build one from user input with :meth:`LabelSet.from_values` or
        :func:`medunet.data.labels.resolve_labels`.
    snap_masks : bool
        Snap the smeared values of lossy (JPEG) masks to their nearest level (the default;
        ``summary.snapped`` lists the files and one warning counts the pixels changed), or
        refuse those masks as problems (``False``, the CLI's ``--no-snap-masks``).

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
        ``root/dataset.json`` cannot be read, or declares labels medunet does not support
        (nnU-Net regions, an ``ignore`` label).

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
    s = DatasetSummary(root=root, cases=cases, labels=declared, problems=problems,
                       layout=detect_layout(root)[0])
    for split_cases in cases.values():
        for case in split_cases:
            _check_case(case, s, declared, snap_masks)
    if len(s.channels) > 1:
        s.problems.append(Problem(root, "images have different channel counts "
                                        f"{dict(s.channels)}; convert them to one (all grey or all RGB)"))
    if declared is None and s.label_pixels:
        _discovered_labels(s)
    if s.binary_255:
        log.info("%d masks stored as 0/255 were read as 0/1", s.binary_255)
    if s.snapped:
        log.warning("%s (save masks as PNG to keep their exact values, or refuse such masks with "
                    "--no-snap-masks)", describe_snapped(s.snapped))
    return s


def check_dataset(root: str | os.PathLike[str], labels: LabelSet | None = None, *,
                  snap_masks: bool = True) -> DatasetSummary:
    """Like :func:`inspect_dataset` but raise :class:`DatasetError` listing every problem."""
    s = inspect_dataset(root, labels, snap_masks=snap_masks)
    if s.problems:
        raise DatasetError(s.problems)
    return s
