"""Find image/mask pairs on disk (by file stem) and report every layout problem at once.

medunet's own layout is ``DATA/{train,val,test}/{images,masks}/`` or ``DATA/{images,masks}/``;
nnU-Net v2 and Decathlon datasets are read as they are (:mod:`medunet.data.layouts`).
Multi-channel cases follow nnU-Net's naming: ``images/<case>_0000.nii.gz``,
``images/<case>_0001.nii.gz``, ... with the mask ``masks/<case>.nii.gz``. A DICOM series is a
case too: ``images/<case>/`` holding its slices, with the mask ``masks/<case>.nii.gz``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from medunet.data.case import Case, read_case_image
from medunet.data.channels import CHANNEL_STEM, group_channels
from medunet.data.layouts import layout_cases
from medunet.errors import DatasetError, Problem
from medunet.io import case_stem, is_supported
from medunet.io.dicom import holds_dicom, is_dicom_file

__all__ = ["CHANNEL_STEM", "MASK_SUFFIXES", "SPLITS", "Case", "DatasetError", "Problem", "discover_cases",
           "group_channels", "list_images", "pair_masks", "read_case_image"]

SPLITS = ("train", "val", "test")
#: mask names accepted besides the image's own stem
MASK_SUFFIXES = ("", "_mask", "_seg")


def _files(folder: Path, problems: list[Problem], series: bool = False) -> list[Path]:
    """Readable files of ``folder``; with ``series``, also subfolders holding a DICOM series."""
    out = []
    dicom: list[Path] = []
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
                if series and holds_dicom(f):
                    out.append(f)
                continue
            if not f.exists():
                problems.append(Problem(f, "broken or looping symbolic link; point it at a real file"))
                continue
        except OSError as exc:
            problems.append(Problem(f, f"cannot be accessed ({exc.strerror}); fix or remove it"))
            continue
        if is_supported(f):
            out.append(f)
        elif f.suffix.lower() == ".dcm" or is_dicom_file(f):
            dicom.append(f)
        else:
            problems.append(Problem(f, f"unsupported file type {f.suffix!r}; remove it or convert it"))
    if dicom:
        problems.append(Problem(folder, f"holds {len(dicom)} DICOM files directly (e.g. {dicom[0].name}); "
                                        "put each series in its own subfolder, named after the case"))
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


def _mask_stem(stem: str, masks: Mapping[str, Path], images: Mapping[str, object] | None = None
               ) -> str | None:
    """The mask stem of image ``stem``; ``x_mask`` is not ``x``'s mask when an image ``x_mask``
    exists (it is that image's own mask: one mask never serves two images)."""
    return next((stem + s for s in MASK_SUFFIXES
                 if stem + s in masks and (not s or images is None or stem + s not in images)), None)


def _channel_files(images: Mapping[str, Path], masks: Mapping[str, Path]) -> dict[str, Path]:
    """The images that are channels of a case: ``x_0001`` is one of case ``x`` only when ``x``
    has a mask and ``x_0001`` has none of its own."""
    out = {}
    for stem, img in images.items():
        match = CHANNEL_STEM.match(stem)
        if (match and _mask_stem(stem, masks, images) is None
                and _mask_stem(match["case"], masks, images) is not None):
            out[stem] = img
    return out


def _report_orphans(masks: Mapping[str, Path], images: Mapping[str, Path], used: set[str],
                    channel_stems: Mapping[str, Path], image_dir: Path, problems: list[Problem]) -> None:
    """A problem for every mask that no image (and no channel group) claims."""
    # the mask of a channel group refused for gaps is not an orphan: that problem is reported
    claimed = {_mask_stem(m["case"], masks, images) for s in channel_stems
               if (m := CHANNEL_STEM.match(s))}
    for mstem, mpath in masks.items():
        if mstem not in used and mstem not in images and mstem not in claimed:
            problems.append(Problem(mpath, f"mask has no matching image in {image_dir}"))


def pair_masks(
    image_dir: Path, mask_dir: Path, split: str, problems: list[Problem]
) -> list[Case]:
    """Pair images with masks by stem (``x.png`` with ``x.png``, ``x_mask.png`` or ``x_seg.png``).

    Channel files ``x_0000.nii.gz, x_0001.nii.gz, ...`` whose mask is named after the case
    (``x.nii.gz``) form one multi-channel case. Images without a mask, masks without an image
    and gaps in channel numbers are appended to ``problems``.
    """
    images = _by_stem(_files(image_dir, problems, series=True), problems)
    masks = _by_stem(_files(mask_dir, problems), problems)
    channel_stems = _channel_files(images, masks)
    grouped = group_channels(channel_stems, problems)
    single = {s: (img,) for s, img in images.items() if s not in channel_stems}
    used: set[str] = set()
    cases = []
    for stem, files in sorted({**single, **grouped}.items()):
        if stem in single and stem in grouped:
            problems.append(Problem(files[0], f"case {stem!r} has both a single image and channel "
                                              f"files ({grouped[stem][0].name}, ...); keep one"))
            continue
        found = _mask_stem(stem, masks, images)
        if found is None:
            problems.append(
                Problem(files[0], f"no mask for this image in {mask_dir} (expected {stem}.<ext>, "
                                  f"{stem}_mask.<ext> or {stem}_seg.<ext>)")
            )
            continue
        used.add(found)
        cases.append(Case(stem, files[0], masks[found], split, channels=files[1:]))
    _report_orphans(masks, images, used, channel_stems, image_dir, problems)
    return cases


def _check_channel_counts(out: dict[str, list[Case]], problems: list[Problem]) -> None:
    """Every case must have the same number of channel files: drop (and report) the odd ones."""
    counts = Counter(len(c.image_files) for cases in out.values() for c in cases)
    if len(counts) < 2:
        return
    common = counts.most_common(1)[0][0]
    for split, cases in out.items():
        for c in cases:
            if len(c.image_files) != common:
                problems.append(Problem(c.image, f"case {c.case_id!r} has {len(c.image_files)} channel "
                                                 f"file(s), most cases have {common}; every case needs "
                                                 "the same channels"))
        out[split] = [c for c in cases if len(c.image_files) == common]


def _layout(root: Path) -> list[tuple[str, Path]]:
    """``(split, folder)`` pairs of a medunet dataset root; ``DatasetError`` when it has no layout."""
    layout = [(s, root / s) for s in SPLITS if (root / s).is_dir()]
    if layout:
        return layout
    if (root / "images").is_dir() or (root / "masks").is_dir():
        return [("all", root)]
    raise DatasetError([Problem(
        root,
        "no dataset layout found; expected train/ val/ test/ folders each with images/ and "
        "masks/, images/ and masks/ directly inside, or an nnU-Net v2 / Decathlon dataset "
        "(imagesTr/, labelsTr/ and dataset.json)",
    )])


def _split_folders(split: str, folder: Path, problems: list[Problem]) -> tuple[Path, Path] | None:
    """``(images, masks)`` of one split, or ``None`` (and problems) when either is absent or locked."""
    img_dir, mask_dir = folder / "images", folder / "masks"
    missing = [d for d in (img_dir, mask_dir) if not d.is_dir()]
    for d in missing:
        problems.append(Problem(d, f"folder missing; split {split!r} needs images/ and masks/"))
    # one problem for the folder, not one per image whose mask cannot be seen
    locked = [d for d in (img_dir, mask_dir) if d.is_dir() and not os.access(d, os.R_OK | os.X_OK)]
    for d in locked:
        problems.append(Problem(d, "folder is not readable (permission denied); fix its permissions"))
    return None if missing or locked else (img_dir, mask_dir)


def _medunet_cases(root: Path, problems: list[Problem]) -> dict[str, list[Case]]:
    """The cases of medunet's own layout, per split."""
    out: dict[str, list[Case]] = {}
    for split, folder in _layout(root):
        folders = _split_folders(split, folder, problems)
        if folders is None:
            continue
        cases = pair_masks(*folders, split, problems)
        if not cases:
            problems.append(Problem(folders[0], f"split {split!r} has no image/mask pairs"))
        out[split] = sorted(cases, key=lambda c: c.case_id)
    return out


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DatasetError([Problem(root, "dataset folder does not exist; check the path")])
    if not root.is_dir():
        raise DatasetError([Problem(root, "is a file, expected a dataset folder with images/ and masks/")])


def discover_cases(root: str | os.PathLike[str]) -> tuple[dict[str, list[Case]], list[Problem]]:
    """Find the cases of a dataset folder.

    Accepted layouts: ``DATA/{train,val,test}/{images,masks}/`` (any subset of splits),
    ``DATA/{images,masks}/`` (one unsplit pool, split ``"all"``), an nnU-Net v2 raw dataset
    (``imagesTr/``, ``labelsTr/``, optional ``imagesTs/`` + ``labelsTs/`` as ``"test"`` and
    ``splits_final.json`` whose fold 0 gives ``"val"``) and a Decathlon dataset (its
    ``dataset.json`` listing); see :mod:`medunet.data.layouts`.

    Returns
    -------
    cases : dict of str to list of Case
        Cases per split, sorted by ``case_id``.
    problems : list of Problem
        Layout problems (missing masks, orphans, empty splits, duplicates, ...).

    Raises
    ------
    DatasetError
        The root does not exist, is a file, or has no layout (or an unreadable ``dataset.json``
        beside ``imagesTr/``).
    """
    root = Path(root)
    _check_root(root)
    problems: list[Problem] = []
    _, found = layout_cases(root, problems)
    out = found if found is not None else _medunet_cases(root, problems)
    _check_channel_counts(out, problems)
    return out, problems


def list_images(path: str | os.PathLike[str]) -> list[Path]:
    """Images to predict: one file, a DICOM series folder, a folder of files (and of DICOM
    series subfolders), or a folder holding ``images/``.

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
    if holds_dicom(folder):
        return [folder]
    problems: list[Problem] = []
    files = _files(folder, problems, series=True)
    _by_stem(files, problems)
    if problems:
        raise DatasetError(problems)
    if not files:
        raise DatasetError([Problem(folder, "folder holds no images (PNG, JPEG, TIFF, BMP, NIfTI, "
                                            "NRRD, MHA/MHD) and no DICOM series")])
    return files
