"""nnU-Net v2 and Medical Segmentation Decathlon (MSD) datasets, read as they are.

nnU-Net v2 raw datasets (``dataset.json`` with ``channel_names``, ``labels``, ``file_ending``)::

    DATA/dataset.json
    DATA/imagesTr/<case>_0000<file_ending>  <case>_0001<file_ending> ...   one file per channel
    DATA/labelsTr/<case><file_ending>
    DATA/imagesTs/ + DATA/labelsTs/        the "test" split (only where labelsTs/ exists)
    DATA/splits_final.json                 optional: fold 0's "val" cases become the "val" split

Decathlon datasets (``dataset.json`` with ``training: [{"image", "label"}]``, ``test``,
``modality``) list their files by path; an image may be a 4D NIfTI file holding every channel
(it is split into channels on reading). Test labels, which the Decathlon withholds, are looked
up in ``labelsTs/`` under the image's file name. nnU-Net v1 datasets (the same listing, with the
files renamed ``<case>_0000.nii.gz``, ...) are read too.

Files other than ``file_ending`` ones and hidden files (the MSD archives' ``._*`` files) are
ignored, as nnU-Net ignores them. Everything ends in :class:`~medunet.data.case.Case` objects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from medunet.data.case import Case
from medunet.data.channels import CHANNEL_STEM, group_channels
from medunet.data.labels import load_dataset_json
from medunet.errors import DatasetError, Problem
from medunet.io import case_stem, is_supported, is_volume

log = logging.getLogger(__name__)

Layout = Literal["medunet", "nnunet", "msd"]
#: how :func:`detect_layout`'s answers read in messages and ``medunet inspect``
LAYOUT_NAMES: dict[str, str] = {"medunet": "medunet", "nnunet": "nnU-Net v2", "msd": "Decathlon"}


def detect_layout(root: Path) -> tuple[Layout, dict[str, Any] | None]:
    """The layout of a dataset folder and its ``dataset.json`` (``None`` for medunet's layout).

    Raises
    ------
    DatasetError
        ``imagesTr/`` exists but ``dataset.json`` is missing, invalid, or neither nnU-Net v2's
        (``file_ending``) nor the Decathlon's (``training``).
    """
    if not (root / "imagesTr").is_dir():
        return "medunet", None
    f = root / "dataset.json"
    try:
        meta = load_dataset_json(root)
    except ValueError as exc:
        raise DatasetError([Problem(f, str(exc).removeprefix(f"{f}: "))]) from exc
    if meta is not None and "file_ending" in meta:
        return "nnunet", meta
    if meta is not None and isinstance(meta.get("training"), list):
        return "msd", meta
    raise DatasetError([Problem(f, (
        "imagesTr/ found but no nnU-Net v2 or Decathlon dataset.json beside it; nnU-Net v2 needs "
        "channel_names, labels and file_ending, the Decathlon a training list of {image, label}"))])


def layout_cases(root: Path, problems: list[Problem]) -> tuple[Layout, dict[str, list[Case]] | None]:
    """The cases of an nnU-Net v2 or Decathlon dataset per split; ``None`` for medunet's layout.

    Problems (missing labels, channel gaps, unknown cases in ``splits_final.json``, ...) are
    appended to ``problems``; the cases they concern are left out.
    """
    layout, meta = detect_layout(root)
    if meta is None:
        return layout, None
    cases = _nnunet(root, meta, problems) if layout == "nnunet" else _msd(root, meta, problems)
    for split, found in cases.items():
        if not found:
            problems.append(Problem(root, f"split {split!r} has no usable image/label pairs"))
    n_train = len(cases.get("train", [])) + len(cases.get("val", []))
    declared = meta.get("numTraining")
    if isinstance(declared, int) and declared != n_train:
        log.warning("%s: dataset.json says numTraining %d, found %d training cases", root, declared, n_train)
    return layout, cases


# --- nnU-Net v2 -----------------------------------------------------------------------------------


def _file_ending(root: Path, meta: Mapping[str, Any]) -> str:
    ending = meta.get("file_ending")
    if not isinstance(ending, str) or not ending.startswith(".") or not is_supported("x" + ending):
        raise DatasetError([Problem(root / "dataset.json", (
            f"file_ending {ending!r} is not an image format medunet reads; use one of .nii.gz, "
            ".nii, .nrrd, .mha, .png, .tif, ... (SimpleITK and PIL formats)"))])
    return ending


def _channel_count(root: Path, meta: Mapping[str, Any], key: str) -> int:
    names = meta.get(key)
    if not isinstance(names, dict) or not names:
        raise DatasetError([Problem(root / "dataset.json", (
            f"{key} must name every channel, e.g. {{\"0\": \"CT\"}}; got {names!r}"))])
    return len(names)


def _ending_files(folder: Path, ending: str, problems: list[Problem]) -> dict[str, Path]:
    """``stem -> file`` of the ``ending`` files of ``folder`` (hidden files skipped)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        problems.append(Problem(folder, f"folder cannot be read ({exc.strerror}); fix its permissions"))
        return {}
    return {f.name[: -len(ending)]: f for f in entries
            if f.name.endswith(ending) and not f.name.startswith(".") and f.is_file()}


def _nnunet_split(images_dir: Path, labels_dir: Path, ending: str, n_channels: int, split: str,
                  problems: list[Problem]) -> list[Case]:
    """Pair ``<case>_NNNN`` image files with ``<case>`` labels in one pair of folders."""
    if not labels_dir.is_dir():
        problems.append(Problem(labels_dir, f"folder missing; the masks of {images_dir.name}/ go there"))
        return []
    stems = {}
    for stem, f in _ending_files(images_dir, ending, problems).items():
        if CHANNEL_STEM.match(stem) is None:
            problems.append(Problem(f, f"nnU-Net image names end in a channel index: expected "
                                       f"{stem}_0000{ending} (and _0001, ... for more channels)"))
        else:
            stems[stem] = f
    grouped = group_channels(stems, problems)
    labels = _ending_files(labels_dir, ending, problems)
    cases = []
    for case_id, files in sorted(grouped.items()):
        # one 2D raster may hold all channels (an RGB PNG with channel_names R, G, B)
        if len(files) != n_channels and (len(files) > 1 or is_volume(files[0])):
            problems.append(Problem(files[0], f"case {case_id!r} has {len(files)} channel file(s); "
                                              f"dataset.json's channel_names lists {n_channels}"))
        elif case_id not in labels:
            problems.append(Problem(files[0], f"no label for case {case_id!r} in {labels_dir} "
                                              f"(expected {case_id}{ending})"))
        else:
            cases.append(Case(case_id, files[0], labels[case_id], split, channels=files[1:]))
    for stem, f in labels.items():
        if stem not in grouped:
            problems.append(Problem(f, f"label has no image in {images_dir} (expected {stem}_0000{ending})"))
    if not stems and not labels:
        problems.append(Problem(images_dir, f"holds no {ending} files (dataset.json's file_ending); "
                                            "fix file_ending or the file names"))
    return cases


def _fold_zero(f: Path, problems: list[Problem]) -> tuple[set[str], set[str]] | None:
    """``(train ids, val ids)`` of fold 0 of ``splits_final.json``; ``None`` (and a problem) when unreadable."""
    try:
        folds = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem(f, f"not valid JSON ({exc}); fix or delete the file"))
        return None
    first = folds[0] if isinstance(folds, list) and folds else None
    if (not isinstance(first, dict) or not isinstance(first.get("val"), list)
            or not isinstance(first.get("train", []), list)):
        problems.append(Problem(f, "expected nnU-Net's list of folds, [{\"train\": [case ids], "
                                   "\"val\": [case ids]}, ...]; fix or delete the file"))
        return None
    return {str(c) for c in first.get("train", [])}, {str(c) for c in first["val"]}


def _apply_splits(root: Path, train: list[Case], problems: list[Problem]) -> dict[str, list[Case]]:
    """``{"train": ...}``, or with ``splits_final.json`` fold 0's train and val cases."""
    f = root / "splits_final.json"
    fold = _fold_zero(f, problems) if f.is_file() else None
    if fold is None:
        return {"train": train}
    train_ids, val_ids = fold
    unknown = sorted((train_ids | val_ids) - {c.case_id for c in train})
    if unknown:
        problems.append(Problem(f, f"fold 0 names {len(unknown)} case(s) that are not usable cases of "
                                   f"imagesTr/labelsTr ({', '.join(unknown[:5])}); fix the file or delete it"))
    if not val_ids:
        problems.append(Problem(f, "fold 0 has no val cases; list some or delete the file"))
    log.info("%s: validating on fold 0 of splits_final.json (%d cases)", root, len(val_ids))
    return {"train": [c for c in train if c.case_id not in val_ids],
            "val": [replace(c, split="val") for c in train if c.case_id in val_ids]}


def _nnunet(root: Path, meta: Mapping[str, Any], problems: list[Problem]) -> dict[str, list[Case]]:
    ending = _file_ending(root, meta)
    n = _channel_count(root, meta, "channel_names")
    train = _nnunet_split(root / "imagesTr", root / "labelsTr", ending, n, "train", problems)
    out = _apply_splits(root, train, problems)
    if (root / "imagesTs").is_dir() and (root / "labelsTs").is_dir():
        out["test"] = _nnunet_split(root / "imagesTs", root / "labelsTs", ending, n, "test", problems)
    elif (root / "imagesTs").is_dir():
        log.info("%s: imagesTs/ has no labelsTs/: not a test split (predict it with medunet predict)", root)
    return out


# --- Decathlon (and nnU-Net v1) -----------------------------------------------------------------


def _listed_images(root: Path, listed: str, problems: list[Problem]) -> tuple[Path, ...] | None:
    """The image files of a listed image: the file itself, or nnU-Net v1's ``_0000``... files."""
    p = root / listed
    if p.is_file():
        return (p,)
    stem = case_stem(p)
    ending = p.name[len(stem):]
    channels = {f.name[: len(f.name) - len(ending)]: f
                for f in sorted(p.parent.glob(f"{stem}_[0-9][0-9][0-9][0-9]{ending}"))}
    if not channels:
        problems.append(Problem(p, "image listed in dataset.json does not exist; fix the path or the listing"))
        return None
    return group_channels(channels, problems).get(stem)


def _entry_path(entry: object, key: str) -> str | None:
    """``entry[key]`` of a listing entry (a test entry may be the image path itself)."""
    value = entry.get(key) if isinstance(entry, dict) else entry if key == "image" else None
    return value if isinstance(value, str) else None


def _msd_case(root: Path, image: str, label: Path, split: str, problems: list[Problem]) -> Case | None:
    files = _listed_images(root, image, problems)
    if files is None:
        return None
    if not label.is_file():
        problems.append(Problem(label, f"label of {Path(image).name} does not exist; fix the listing "
                                       "in dataset.json or add the file"))
        return None
    return Case(case_stem(root / image), files[0], label, split, channels=files[1:])


def _msd(root: Path, meta: Mapping[str, Any], problems: list[Problem]) -> dict[str, list[Case]]:
    f = root / "dataset.json"
    out: dict[str, list[Case]] = {"train": []}
    for i, entry in enumerate(meta["training"]):
        image, label = _entry_path(entry, "image"), _entry_path(entry, "label")
        if image is None or label is None:
            problems.append(Problem(f, f"training entry {i} must be {{\"image\": path, \"label\": path}}, "
                                       f"got {entry!r}"))
        elif (case := _msd_case(root, image, root / label, "train", problems)) is not None:
            out["train"].append(case)
    test = meta.get("test") if isinstance(meta.get("test"), list) else []
    if (root / "labelsTs").is_dir() and test:
        out["test"] = []
        for entry in test:
            image = _entry_path(entry, "image")
            if image is None:
                problems.append(Problem(f, f"test entry must be an image path, got {entry!r}"))
            elif (case := _msd_case(root, image, root / "labelsTs" / Path(image).name, "test",
                                    problems)) is not None:
                out["test"].append(case)
    for split, cases in out.items():
        seen: dict[str, Case] = {}
        for c in cases:
            if c.case_id in seen:
                problems.append(Problem(c.image, f"duplicate case name {c.case_id!r} in the {split} "
                                                 f"listing (also {seen[c.case_id].image.name})"))
            seen.setdefault(c.case_id, c)
        out[split] = sorted(seen.values(), key=lambda c: c.case_id)
    return out
