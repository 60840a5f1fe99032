"""Model-free evaluation of mask folders: pairing, problems, the documents written, real data."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from medunet.data import DatasetError
from medunet.data.labels import LabelSet
from medunet.evaluation import evaluate
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.writing import write_evaluation
from medunet.io import read_mask


def _mask_dirs(root: Path, write_png: Callable, n: int = 3, k: int = 2, ref_suffix: str = "",
               seed: int = 0) -> tuple[Path, Path, list[tuple[np.ndarray, np.ndarray]]]:
    """``root/pred`` and ``root/ref`` with ``n`` paired random masks; returns the arrays too."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        ref = np.zeros((20, 24), np.uint8)
        ref[4:14, 5:17] = rng.integers(1, k, (10, 12))
        pred = ref.copy()
        flip = rng.random(ref.shape) < 0.2
        pred[flip] = rng.integers(0, k, int(flip.sum()))
        write_png(root / "ref" / f"c{i}{ref_suffix}.png", ref)
        write_png(root / "pred" / f"c{i}.png", pred)
        pairs.append((ref, pred))
    return root / "pred", root / "ref", pairs


def test_pairs_with_mask_suffix_and_matches_sklearn(tmp_path: Path, write_png: Callable) -> None:
    pred_dir, ref_dir, pairs = _mask_dirs(tmp_path, write_png, n=3, k=3, ref_suffix="_mask")
    ev = evaluate_dirs(pred_dir, ref_dir)
    assert ev.case_ids == ["c0", "c1", "c2"]
    assert ev.labels.values == (0, 1, 2) and not ev.labels.declared
    r = np.concatenate([a.ravel() for a, _ in pairs])
    p = np.concatenate([b.ravel() for _, b in pairs])
    assert np.array_equal(ev.pooled_matrix, sk_confusion_matrix(r, p, labels=range(3)))


def test_seg_suffix_on_predictions(tmp_path: Path, write_png: Callable) -> None:
    write_png(tmp_path / "ref" / "a.png", np.eye(8, dtype=np.uint8))
    write_png(tmp_path / "pred" / "a_seg.png", np.eye(8, dtype=np.uint8))
    ev = evaluate_dirs(tmp_path / "pred", tmp_path / "ref")
    assert ev.case_ids == ["a"] and ev.to_dict()["pooled"]["accuracy"] == 1.0


def test_unpaired_files_are_reported_all_at_once(tmp_path: Path, write_png: Callable) -> None:
    pred_dir, ref_dir, _ = _mask_dirs(tmp_path, write_png, n=2)
    write_png(ref_dir / "only_ref1.png", np.zeros((4, 4), np.uint8))
    write_png(ref_dir / "only_ref2.png", np.zeros((4, 4), np.uint8))
    write_png(pred_dir / "only_pred.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError) as exc:
        evaluate_dirs(pred_dir, ref_dir)
    assert sorted(p.path for p in exc.value.problems) == sorted(
        [ref_dir / "only_ref1.png", ref_dir / "only_ref2.png", pred_dir / "only_pred.png"]
    )


def test_value_outside_declared_labels(tmp_path: Path, write_png: Callable) -> None:
    pred_dir, ref_dir, _ = _mask_dirs(tmp_path, write_png, n=2, k=3)
    with pytest.raises(DatasetError) as exc:
        evaluate_dirs(pred_dir, ref_dir, labels=LabelSet.from_count(2, declared=True))
    paths = {p.path for p in exc.value.problems}
    assert paths == {pred_dir / "c0.png", pred_dir / "c1.png", ref_dir / "c0.png", ref_dir / "c1.png"}
    assert all("[2] outside the declared labels [0, 1]" in p.message for p in exc.value.problems)


def test_size_mismatch_and_unreadable_files_name_the_right_file(tmp_path: Path, write_png: Callable) -> None:
    pred_dir, ref_dir, _ = _mask_dirs(tmp_path, write_png, n=3)
    write_png(pred_dir / "c0.png", np.zeros((19, 24), np.uint8))
    (ref_dir / "c1.png").write_text("not a png")
    (pred_dir / "c2.png").write_bytes(b"")
    with pytest.raises(DatasetError) as exc:
        evaluate_dirs(pred_dir, ref_dir)
    by_path = {p.path: p.message for p in exc.value.problems}
    assert set(by_path) == {pred_dir / "c0.png", ref_dir / "c1.png", pred_dir / "c2.png"}
    assert "does not match reference" in by_path[pred_dir / "c0.png"]
    assert "not a readable image" in by_path[ref_dir / "c1.png"]
    assert "empty" in by_path[pred_dir / "c2.png"]


def test_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    with pytest.raises(DatasetError, match="does not exist"):
        evaluate_dirs(tmp_path / "nope", tmp_path / "ref")
    (tmp_path / "pred").mkdir()
    with pytest.raises(DatasetError, match="no reference masks"):
        evaluate_dirs(tmp_path / "pred", tmp_path / "ref")


def test_binary_255_masks_compare_with_0_1(tmp_path: Path, write_png: Callable) -> None:
    m = np.zeros((8, 8), np.uint8)
    m[2:5, 2:5] = 1
    write_png(tmp_path / "ref" / "a.png", m)
    write_png(tmp_path / "pred" / "a.png", m * 255)
    ev = evaluate_dirs(tmp_path / "pred", tmp_path / "ref")
    assert ev.labels.num_classes == 2 and ev.to_dict()["pooled"]["f1"] == 1.0


def test_to_dict_structure(tmp_path: Path, write_png: Callable) -> None:
    pred_dir, ref_dir, pairs = _mask_dirs(tmp_path, write_png, n=3, k=2)
    ev = evaluate_dirs(pred_dir, ref_dir, labels=LabelSet((0, 1), ("bg", "lesion")))
    doc = ev.to_dict()
    assert {"labels", "num_cases", "policy", "pooled", "mean_case", "per_case"} <= set(doc)
    assert doc["labels"] == {"0": "bg", "1": "lesion"} and doc["num_cases"] == 3
    assert [row["case"] for row in doc["per_case"]] == ["c0", "c1", "c2"]
    for row, (ref, pred) in zip(doc["per_case"], pairs, strict=True):
        assert row["accuracy"] == float(np.mean(ref == pred))
        assert row["ref_pixels"] == {"bg": int((ref == 0).sum()), "lesion": int((ref == 1).sum())}
        assert row["pred_pixels"]["lesion"] == int((pred == 1).sum())
        tp = int(((ref == 1) & (pred == 1)).sum())
        assert row["dice"]["lesion"] == 2 * tp / ((ref == 1).sum() + (pred == 1).sum())
    mc = doc["mean_case"]
    assert set(mc) >= {"accuracy", "dice", "iou", "dice_present", "foreground_dice",
                       "foreground_dice_present"}
    assert mc["dice"]["lesion"]["n"] == 3
    assert mc["dice"]["lesion"]["mean"] == float(np.mean([r["dice"]["lesion"] for r in doc["per_case"]]))
    pooled = doc["pooled"]
    assert set(pooled["per_class"]) == {"bg", "lesion"}
    assert pooled["headline_average"] == "class 1"
    assert pooled["f1"] == pooled["per_class"]["lesion"]["f1"]
    json.dumps(doc)


def test_write_evaluation_files(tmp_path: Path, write_png: Callable) -> None:
    pred_dir, ref_dir, _ = _mask_dirs(tmp_path, write_png, n=4, k=3)
    ev = evaluate_dirs(pred_dir, ref_dir)
    paths = write_evaluation(ev, tmp_path / "out" / "eval")
    assert set(paths) >= {"json", "csv", "html"}
    doc = json.loads(paths["json"].read_text())
    assert {"pooled", "mean_case", "per_case", "labels"} <= set(doc)
    assert doc == json.loads(json.dumps(ev.to_dict()))
    with paths["csv"].open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["case", "accuracy"]
    assert "dice_class_1" in header and "ref_pixels_class_2" in header
    assert [r[0] for r in body] == ["c0", "c1", "c2", "c3"]
    assert all(len(r) == len(header) for r in body)
    assert float(body[0][1]) == doc["per_case"][0]["accuracy"]
    html = paths["html"].read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "</html>" in html
    assert sorted(p.name for p in (tmp_path / "out" / "eval").iterdir()) == [
        "lesions.csv", "metrics.csv", "metrics.json", "report.html"]


def test_write_evaluation_with_images(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=3)
    ev = evaluate_dirs(root / "masks", root / "masks", images_dir=root / "images")
    paths = write_evaluation(ev, tmp_path / "out", gallery_size=1)
    assert paths["html"].stat().st_size > 0 and "data:image/png;base64" in paths["html"].read_text()


# --- acceptance on the real sample --------------------------------------------------------------


def test_acceptance_mni152_against_itself_is_perfect(shared_data: Path) -> None:
    masks = shared_data / "mni152_tissue" / "test" / "masks"
    doc = evaluate_dirs(masks, masks).to_dict()
    assert doc["num_cases"] == 24 and len(doc["labels"]) == 4
    pooled = doc["pooled"]
    cm = np.array(pooled["confusion_matrix"])
    assert cm.shape == (4, 4) and np.count_nonzero(cm - np.diag(np.diag(cm))) == 0
    assert pooled["accuracy"] == 1.0
    for key in ("precision", "recall", "f1", "foreground_dice"):
        assert pooled[key] == 1.0, key
    for name, pc in pooled["per_class"].items():
        assert pc["support"] > 0, name  # every class is present in the test split
        for key in ("precision", "recall", "f1", "dice", "iou", "specificity"):
            assert pc[key] == 1.0, (name, key)
    for row in doc["per_case"]:
        assert row["accuracy"] == 1.0
        assert set(row["dice"].values()) == {1.0} and set(row["iou"].values()) == {1.0}
        assert row["ref_pixels"] == row["pred_pixels"]
    for name in doc["labels"].values():
        assert doc["mean_case"]["dice"][name]["mean"] == 1.0
        assert doc["mean_case"]["dice_present"][name]["mean"] == 1.0


def test_acceptance_mni152_perturbed_equals_sklearn(shared_data: Path, tmp_path: Path) -> None:
    from PIL import Image

    ref_dir = shared_data / "mni152_tissue" / "test" / "masks"
    rng = np.random.default_rng(2024)
    refs, preds = [], []
    for f in sorted(ref_dir.glob("*.png")):
        ref, _ = read_mask(f)
        pred = ref.copy()
        flip = rng.random(ref.shape) < 0.05
        pred[flip] = rng.integers(0, 4, int(flip.sum()))
        (tmp_path / "pred").mkdir(exist_ok=True)
        Image.fromarray(pred.astype(np.uint8)).save(tmp_path / "pred" / f.name)
        refs.append(ref.ravel())
        preds.append(pred.ravel())
    r, p = np.concatenate(refs), np.concatenate(preds)
    assert 0.03 < np.mean(r != p) < 0.05  # 5% flipped, a quarter of them to the same label

    labels = LabelSet.from_count(4, declared=True)
    pooled = evaluate_dirs(tmp_path / "pred", ref_dir, labels=labels).to_dict()["pooled"]
    cm = sk_confusion_matrix(r, p, labels=range(4))
    prec, rec, f1, support = precision_recall_fscore_support(
        r, p, labels=range(4), average=None, zero_division=0)
    macro = precision_recall_fscore_support(r, p, labels=range(4), average="macro", zero_division=0)
    assert pooled["confusion_matrix"] == cm.tolist()
    assert pooled["accuracy"] == accuracy_score(r, p)
    assert (pooled["precision"], pooled["recall"], pooled["f1"]) == macro[:3]
    for i, pc in enumerate(pooled["per_class"].values()):
        assert (pc["precision"], pc["recall"], pc["f1"], pc["support"]) == (
            prec[i], rec[i], f1[i], support[i])


# --- geometry: resampled predictions become notes -----------------------------------------------


def _volume(path: Path, arr: np.ndarray, spacing: tuple[float, float, float]) -> None:
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))


def test_resampled_predictions_are_named_in_the_notes(tmp_path: Path) -> None:
    ref = np.zeros((8, 8, 8), np.uint8)
    ref[2:6, 2:6, 2:6] = 1
    _volume(tmp_path / "ref" / "fine.nii.gz", ref, (1.0, 1.0, 1.0))
    _volume(tmp_path / "pred" / "fine.nii.gz", ref, (1.0, 1.0, 1.0))
    _volume(tmp_path / "ref" / "coarse.nii.gz", ref, (1.0, 1.0, 1.0))
    # the same cube on a grid of 2 mm voxels: same world extent
    _volume(tmp_path / "pred" / "coarse.nii.gz", ref[::2, ::2, ::2], (2.0, 2.0, 2.0))
    with pytest.raises(DatasetError, match="--resample-to-reference"):
        evaluate_dirs(tmp_path / "pred", tmp_path / "ref")
    ev = evaluate(tmp_path / "pred", tmp_path / "ref", geometry="resample")
    doc = ev.to_dict()
    assert doc["notes"][0] == "case coarse: prediction resampled onto the reference grid (nearest)"
    assert len(doc["notes"]) == 2 and doc["notes"][1].startswith("confidence intervals: only 2")
    assert doc["lesions"]["pooled"]["class_1"]["volume_unit"] == "mm3"
