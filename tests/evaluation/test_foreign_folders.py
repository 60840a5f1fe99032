"""Any tool's prediction folder as it is: side files that are not masks are skipped, never errors;
a mask file without a reference stays an error."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medunet.cli import main
from medunet.data.cases import DatasetError
from medunet.evaluation.files import evaluate_dirs, pair_predictions

SPACING = (0.8, 0.8, 2.5)


def _nii(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.SetSpacing(SPACING)
    sitk.WriteImage(img, str(path))
    return path


def _nnunet_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A prediction folder as nnU-Net v2's ``nnUNetv2_predict --save_probabilities`` leaves it:
    ``CASE.nii.gz`` masks beside ``dataset.json``, ``plans.json``,
    ``predict_from_raw_data_args.json`` and per case ``CASE.npz`` (probabilities) and
    ``CASE.pkl`` (properties)."""
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    for i, shift in enumerate((0, 1)):
        mask = np.zeros((4, 10, 12), np.uint8)
        mask[1:3, 2:7, 3:9] = 1
        _nii(ref / f"case_{i:03d}.nii.gz", mask)
        _nii(pred / f"case_{i:03d}.nii.gz", np.roll(mask, shift, axis=2))
        probs = np.stack([1.0 - mask, mask]).astype(np.float16)
        np.savez_compressed(pred / f"case_{i:03d}.npz", probabilities=probs)
        (pred / f"case_{i:03d}.pkl").write_bytes(pickle.dumps({"spacing": SPACING}))
    (pred / "dataset.json").write_text(json.dumps(
        {"channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1},
         "numTraining": 2, "file_ending": ".nii.gz"}))
    (pred / "plans.json").write_text(json.dumps({"dataset_name": "Dataset001_Organ"}))
    (pred / "predict_from_raw_data_args.json").write_text(json.dumps({"use_gaussian": True}))
    return pred, ref


def test_nnunet_prediction_folder_is_evaluated_as_it_is(tmp_path: Path) -> None:
    pred, ref = _nnunet_folder(tmp_path)
    files = pair_predictions(pred, ref)
    assert [(f.case_id, f.pred.name) for f in files] == [("case_000", "case_000.nii.gz"),
                                                         ("case_001", "case_001.nii.gz")]
    doc = evaluate_dirs(pred, ref, lesions=None, bootstrap=None).document()
    dice = {row.case: row.dice["class_1"] for row in doc.per_case if row.dice is not None}
    # 60 voxels shifted by one of 6 columns: 50 shared
    assert dice == {"case_000": 1.0, "case_001": pytest.approx(2 * 50 / 120)}


def test_cli_evaluates_the_nnunet_folder(tmp_path: Path) -> None:
    pred, ref = _nnunet_folder(tmp_path)
    out = tmp_path / "out"
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--bootstrap", "0"])
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert [row["case"] for row in doc["per_case"]] == ["case_000", "case_001"]


def test_side_files_in_the_reference_folder_are_skipped(tmp_path: Path) -> None:
    pred, ref = _nnunet_folder(tmp_path)
    (ref / "notes.txt").write_text("drawn by hand")
    (ref / "labels.csv").write_text("case,label\n")
    assert len(pair_predictions(pred, ref)) == 2


def test_mask_without_reference_stays_an_error(tmp_path: Path) -> None:
    pred, ref = _nnunet_folder(tmp_path)
    stray = _nii(pred / "case_009.nii.gz", np.zeros((4, 10, 12), np.uint8))
    with pytest.raises(DatasetError) as exc:
        pair_predictions(pred, ref)
    assert [p.path for p in exc.value.problems] == [stray]


def test_broken_link_in_a_prediction_folder_stays_an_error(tmp_path: Path) -> None:
    pred, ref = _nnunet_folder(tmp_path)
    link = pred / "case_002.nii.gz"
    link.symlink_to(tmp_path / "gone.nii.gz")
    with pytest.raises(DatasetError) as exc:
        pair_predictions(pred, ref)
    assert [p.path for p in exc.value.problems] == [link]


def test_png_folder_with_side_files(tmp_path: Path, write_png: Callable) -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 1
    write_png(tmp_path / "ref" / "a.png", mask)
    write_png(tmp_path / "pred" / "a.png", mask)
    (tmp_path / "pred" / "a.npy").write_bytes(b"\x93NUMPY")
    (tmp_path / "pred" / "summary.json").write_text("{}")
    ev = evaluate_dirs(tmp_path / "pred", tmp_path / "ref", lesions=None, bootstrap=None)
    assert ev.case_ids == ["a"]
