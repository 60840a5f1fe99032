"""A medunet 2D PNG dataset as an nnU-Net v2 raw dataset, and fold 0 = medunet's train/val split.

Used by ``benchmarks/nnunet_side_by_side.py``; standard library only (it runs in any Python).

Layout written (``nnUNet_raw/Dataset<ID>_<name>/``)::

    imagesTr/<case>_0000.png   train + val images (8-bit greyscale PNG, copied byte for byte)
    labelsTr/<case>.png        their masks (uint8 class ids, copied)
    imagesTs/<case>_0000.png   test images
    dataset.json               channel_names, labels, numTraining, file_ending ".png",
                               overwrite_image_reader_writer "NaturalImage2DIO"

nnU-Net's ``NaturalImage2DIO`` reads a 2D greyscale PNG with ``skimage.io.imread`` as one channel
of shape (1, 1, H, W) with a dummy spacing (999, 1, 1); it is the reader the registry picks for
``.png`` anyway, and naming it in dataset.json makes that explicit. Every channel name other than
"CT" (and a few special ones) gets nnU-Net's per-image z-score normalisation.

``splits_final.json`` (in ``nnUNet_preprocessed/Dataset<ID>_<name>/``) holds one fold: the cases
medunet trains and validates on, so both tools select their model on the same cases.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

# nnU-Net channel names (only "CT" changes nnU-Net's normalisation; all of these get z-score)
CHANNEL_NAMES = {"colin27_brain": "T1", "mni152_tissue": "T1", "dsb_nuclei": "fluorescence",
                 "brain_tumor_mr": "T1c"}
DATASET_IDS = {"colin27_brain": 501, "mni152_tissue": 502, "dsb_nuclei": 503, "brain_tumor_mr": 504}


def dataset_name(name: str) -> str:
    """nnU-Net's folder name for one of our datasets: ``Dataset5xx_<name>``."""
    if name not in DATASET_IDS:
        raise ValueError(f"{name}: no nnU-Net dataset id for it; add it to DATASET_IDS in {__file__}")
    return f"Dataset{DATASET_IDS[name]:03d}_{name}"


def _short_label(name: str) -> str:
    """'background / non-brain (skull, ...)' -> 'background'; 'CSF / other intracranial' -> 'CSF'."""
    return name.split(" /")[0].split(" (")[0].strip()


def nnunet_labels(ours: dict[str, Any]) -> dict[str, int]:
    """nnU-Net's ``labels`` ({name: value}, 'background' = 0) from our dataset.json's ``classes``."""
    labels = {"background": 0}
    for value, name in sorted(((int(v), n) for v, n in ours["classes"].items())):
        if value:
            labels[_short_label(name)] = value
    if len(set(labels.values())) != len(ours["classes"]):
        raise ValueError(f"classes {ours['classes']}: two classes shorten to the same nnU-Net label name")
    return labels


def _stems(data: Path, split: str) -> list[str]:
    folder = data / split / "images"
    return sorted(p.stem for p in folder.glob("*.png")) if folder.is_dir() else []


def convert(data: Path, raw_root: Path) -> Path:
    """Write (or rewrite) the nnU-Net raw dataset of ``data``; return its folder."""
    ours = json.loads((data / "dataset.json").read_text())
    out = raw_root / dataset_name(data.name)
    if out.exists():
        shutil.rmtree(out)
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (out / sub).mkdir(parents=True)
    n_train = 0
    for split in ("train", "val"):
        for stem in _stems(data, split):
            shutil.copyfile(data / split / "images" / f"{stem}.png", out / "imagesTr" / f"{stem}_0000.png")
            shutil.copyfile(data / split / "masks" / f"{stem}.png", out / "labelsTr" / f"{stem}.png")
            n_train += 1
    for stem in _stems(data, "test"):
        shutil.copyfile(data / "test" / "images" / f"{stem}.png", out / "imagesTs" / f"{stem}_0000.png")
    meta = {"channel_names": {"0": CHANNEL_NAMES.get(data.name, "grey")},
            "labels": nnunet_labels(ours), "numTraining": n_train, "file_ending": ".png",
            "overwrite_image_reader_writer": "NaturalImage2DIO",
            "name": data.name, "description": f"medunet benchmark copy of {data}"}
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def medunet_split(data: Path, medunet_run: Path | None) -> tuple[list[str], list[str]]:
    """The (train, val) case ids medunet uses: the ``val/`` split, or the run's ``plan.json``.

    Without a ``val/`` folder medunet holds out a seeded share of train; the cases it chose are in
    ``RUN/plan.json`` (``train_cases``, ``val_cases``), so that run must exist.
    """
    val = _stems(data, "val")
    if val:
        return _stems(data, "train"), val
    plan = medunet_run / "plan.json" if medunet_run else None
    if plan is None or not plan.is_file():
        raise ValueError(f"{data.name} has no val/ split and {plan} does not exist: run the medunet job "
                         "of this dataset and seed first (drop --only nnunet), so both tools validate "
                         "on the same cases")
    doc = json.loads(plan.read_text())
    return list(doc["train_cases"]), list(doc["val_cases"])


def write_split(preprocessed: Path, train: list[str], val: list[str]) -> Path:
    """``splits_final.json`` with fold 0 = (train, val); nnU-Net then trains fold 0 on exactly that."""
    path = preprocessed / "splits_final.json"
    path.write_text(json.dumps([{"train": sorted(train), "val": sorted(val)}], indent=2) + "\n")
    return path
