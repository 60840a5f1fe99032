"""Find image/mask pairs on disk (by file stem) and report every layout problem at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medunet.io import case_stem, is_supported

SPLITS = ("train", "val", "test")
#: mask names accepted besides the image's own stem
MASK_SUFFIXES = ("", "_mask", "_seg")


@dataclass(frozen=True)
class Case:
    """One image and its (optional) mask.

    Parameters
    ----------
    case_id : str
        The image's file stem; unique within a split.
    image : Path
    mask : Path or None
        ``None`` for prediction-only inputs.
    split : str
        ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (unsplit dataset).
    """

    case_id: str
    image: Path
    mask: Path | None
    split: str


@dataclass(frozen=True)
class Problem:
    """A problem with one file: where, and what was expected."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DatasetError(ValueError):
    """Raised with every problem found, one line each."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _files(folder: Path, problems: list[Problem]) -> list[Path]:
    out = []
    try:
        entries = sorted(folder.iterdir())
    except PermissionError:
        problems.append(Problem(folder, "folder is not readable (permission denied); fix its permissions"))
        return []
    for f in entries:
        if f.name.startswith("."):
            continue
        try:
            if f.is_dir():
                continue
            if not f.exists():
                problems.append(Problem(f, "broken or looping symbolic link; point it at a real file"))
                continue
        except OSError as exc:
            problems.append(Problem(f, f"cannot be accessed ({exc.strerror}); fix or remove it"))
            continue
        if is_supported(f):
            out.append(f)
        else:
            problems.append(Problem(f, f"unsupported file type {f.suffix!r}; remove it or convert it"))
    return out


def _by_stem(files: list[Path], problems: list[Problem]) -> dict[str, Path]:
    seen: dict[str, Path] = {}
    for f in files:
        stem = case_stem(f)
        if stem in seen:
            problems.append(
                Problem(f, f"duplicate case name {stem!r} (also {seen[stem].name}); keep one file per case")
            )
            continue
        seen[stem] = f
    return seen


def pair_masks(
    image_dir: Path, mask_dir: Path, split: str, problems: list[Problem]
) -> list[Case]:
    """Pair images with masks by stem (``x.png`` with ``x.png``, ``x_mask.png`` or ``x_seg.png``).

    Images without a mask and masks without an image are appended to ``problems``.
    """
    images = _by_stem(_files(image_dir, problems), problems)
    masks = _by_stem(_files(mask_dir, problems), problems)
    used: set[str] = set()
    cases = []
    for stem, img in images.items():
        found = [stem + s for s in MASK_SUFFIXES if stem + s in masks]
        if not found:
            problems.append(
                Problem(img, f"no mask for this image in {mask_dir} (expected {stem}.<ext>, "
                             f"{stem}_mask.<ext> or {stem}_seg.<ext>)")
            )
            continue
        used.add(found[0])
        cases.append(Case(stem, img, masks[found[0]], split))
    for mstem, m in masks.items():
        if mstem not in used and mstem not in images:
            problems.append(Problem(m, f"mask has no matching image in {image_dir}"))
    return cases


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DatasetError([Problem(root, "dataset folder does not exist; check the path")])
    if not root.is_dir():
        raise DatasetError([Problem(root, "is a file, expected a dataset folder with images/ and masks/")])


def discover_cases(root: str | os.PathLike[str]) -> tuple[dict[str, list[Case]], list[Problem]]:
    """Find the cases of a dataset folder.

    Accepted layouts: ``DATA/{train,val,test}/{images,masks}/`` (any subset of splits) or
    ``DATA/{images,masks}/`` (one unsplit pool, split ``"all"``).

    Returns
    -------
    cases : dict of str to list of Case
        Cases per split, sorted by ``case_id``.
    problems : list of Problem
        Layout problems (missing masks, orphans, empty splits, duplicates, ...).

    Raises
    ------
    DatasetError
        The root does not exist, is a file, or has neither layout.
    """
    root = Path(root)
    _check_root(root)
    problems: list[Problem] = []
    splits = [s for s in SPLITS if (root / s).is_dir()]
    layout: list[tuple[str, Path]] = [(s, root / s) for s in splits]
    if not layout:
        if (root / "images").is_dir() or (root / "masks").is_dir():
            layout = [("all", root)]
        else:
            raise DatasetError([Problem(
                root,
                "no dataset layout found; expected train/ val/ test/ folders each with images/ and "
                "masks/, or images/ and masks/ directly inside",
            )])
    out: dict[str, list[Case]] = {}
    for split, folder in layout:
        img_dir, mask_dir = folder / "images", folder / "masks"
        missing = [d for d in (img_dir, mask_dir) if not d.is_dir()]
        for d in missing:
            problems.append(Problem(d, f"folder missing; split {split!r} needs images/ and masks/"))
        if missing:
            continue
        cases = pair_masks(img_dir, mask_dir, split, problems)
        if not cases:
            problems.append(Problem(img_dir, f"split {split!r} has no image/mask pairs"))
        out[split] = sorted(cases, key=lambda c: c.case_id)
    return out, problems


def list_images(path: str | os.PathLike[str]) -> list[Path]:
    """Images to predict: one file, a folder of files, or a folder holding ``images/``.

    Raises
    ------
    DatasetError
        The path is missing, holds no readable image types, or holds duplicate stems.
    """
    p = Path(path)
    if not p.exists():
        raise DatasetError([Problem(p, "input does not exist; check the path")])
    if p.is_file():
        if not is_supported(p):
            raise DatasetError([Problem(p, f"unsupported file type {p.suffix!r}")])
        return [p]
    folder = p / "images" if (p / "images").is_dir() else p
    problems: list[Problem] = []
    files = _files(folder, problems)
    _by_stem(files, problems)
    if problems:
        raise DatasetError(problems)
    if not files:
        raise DatasetError([Problem(folder, "folder holds no images (PNG, JPEG, TIFF, BMP)")])
    return files
