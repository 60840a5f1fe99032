"""One small synthetic two-channel 3D dataset, written in nnU-Net v2's, the Decathlon's and
medunet's layouts, so that tests can check the three read the same."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

SPACING = (0.8, 0.9, 2.0)  # physical (x, y, z) mm
SHAPE = (8, 20, 24)  # array (Z, Y, X), all different so that a swapped axis shows
ORIGIN_RAS = (5.0, -7.0, 11.0)
AFFINE = np.diag([*SPACING, 1.0])
AFFINE[:3, 3] = ORIGIN_RAS
#: ITK's LPS origin of the files: x and y flipped from nibabel's RAS
ORIGIN_LPS = (-ORIGIN_RAS[0], -ORIGIN_RAS[1], ORIGIN_RAS[2])
CHANNEL_NAMES = {"0": "T2", "1": "ADC"}
NNUNET_LABELS = {"background": 0, "tumour": 1}


@dataclass(frozen=True)
class SynthCase:
    """One case: ``channels`` ``(C, Z, Y, X)`` float32 and ``mask`` ``(Z, Y, X)`` uint8."""

    case_id: str
    channels: np.ndarray
    mask: np.ndarray


def synth_cases(n: int, seed: int, prefix: str = "case") -> list[SynthCase]:
    """``n`` cases with an ellipsoid lesion: bright in channel 0, dark on a gradient in channel 1."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    out = []
    for i in range(n):
        c = rng.uniform([2.5, 7, 8], [5.5, 13, 16])
        r = rng.uniform([1.5, 3, 3], [2.5, 5, 6])
        mask = ((((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2
                 + ((xx - c[2]) / r[2]) ** 2) <= 1).astype(np.uint8)
        ch0 = 100 + 80 * mask + rng.normal(0, 10, SHAPE)
        ch1 = 50 + 3 * xx - 40 * mask + rng.normal(0, 5, SHAPE)
        out.append(SynthCase(f"{prefix}_{i:03d}", np.stack([ch0, ch1]).astype(np.float32), mask))
    return out


def write_nifti(path: Path, zyx: np.ndarray) -> Path:
    """A 3D ``(Z, Y, X)`` array as NIfTI with :data:`AFFINE` (nibabel stores ``(x, y, z)``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(zyx.transpose(2, 1, 0)), AFFINE), path)
    return path


def write_nifti_4d(path: Path, czyx: np.ndarray) -> Path:
    """A ``(C, Z, Y, X)`` array as one 4D NIfTI file ``(x, y, z, c)``, as the Decathlon ships them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(czyx.transpose(3, 2, 1, 0)), AFFINE), path)
    return path


def _json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2))


def write_nnunet(root: Path, splits: Mapping[str, Sequence[SynthCase]], *,
                 labels: Mapping[str, object] | None = None, ending: str = ".nii.gz") -> Path:
    """nnU-Net v2: ``imagesTr/<id>_000C``, ``labelsTr/<id>`` (``"test"``: ``imagesTs``/``labelsTs``)."""
    for split, cases in splits.items():
        tag = "Tr" if split == "train" else "Ts"
        for c in cases:
            for k, channel in enumerate(c.channels):
                write_nifti(root / f"images{tag}" / f"{c.case_id}_{k:04d}{ending}", channel)
            write_nifti(root / f"labels{tag}" / f"{c.case_id}{ending}", c.mask)
    _json(root / "dataset.json", {"channel_names": CHANNEL_NAMES,
                                  "labels": dict(labels or NNUNET_LABELS),
                                  "numTraining": len(splits.get("train", [])), "file_ending": ending})
    return root


def write_msd(root: Path, splits: Mapping[str, Sequence[SynthCase]]) -> Path:
    """The Decathlon: one 4D image per case, listed in ``dataset.json`` (test labels in ``labelsTs``)."""
    listing: dict[str, list[object]] = {"training": [], "test": []}
    for split, cases in splits.items():
        tag = "Tr" if split == "train" else "Ts"
        for c in cases:
            write_nifti_4d(root / f"images{tag}" / f"{c.case_id}.nii.gz", c.channels)
            write_nifti(root / f"labels{tag}" / f"{c.case_id}.nii.gz", c.mask)
            # the Decathlon's archives carry macOS resource forks beside every file
            (root / f"images{tag}" / f"._{c.case_id}.nii.gz").write_bytes(b"\x00\x05\x16\x07")
            image = f"./images{tag}/{c.case_id}.nii.gz"
            listing["training" if split == "train" else "test"].append(
                {"image": image, "label": f"./labelsTr/{c.case_id}.nii.gz"} if split == "train" else image)
    _json(root / "dataset.json", {"name": "Synth", "tensorImageSize": "4D", "modality": CHANNEL_NAMES,
                                  "labels": {"0": "background", "1": "tumour"},
                                  "numTraining": len(listing["training"]), "numTest": len(listing["test"]),
                                  **listing})
    return root


def write_medunet(root: Path, splits: Mapping[str, Sequence[SynthCase]]) -> Path:
    """medunet's layout: ``<split>/images/<id>_000C.nii.gz`` and ``<split>/masks/<id>.nii.gz``."""
    for split, cases in splits.items():
        for c in cases:
            for k, channel in enumerate(c.channels):
                write_nifti(root / split / "images" / f"{c.case_id}_{k:04d}.nii.gz", channel)
            write_nifti(root / split / "masks" / f"{c.case_id}.nii.gz", c.mask)
    _json(root / "dataset.json", {"classes": {"0": "background", "1": "tumour"}})
    return root
