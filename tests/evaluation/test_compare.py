"""``compare``: prediction folders paired on the reference cases, compare.json/csv, the report,
the Wilcoxon p-value as scipy computes it, and the real sample with two biased predictions."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from medunet import compare
from medunet.evaluation.intervals import BootstrapOptions
from medunet.io import read_mask


def _folders(root: Path, write_png: Callable, n: int = 12) -> tuple[Path, Path, Path, Path]:
    """ref, pred_a (shifted by 0..2 px), pred_b (shifted by 1 px), images; ``n`` cases."""
    for i in range(n):
        ref = np.zeros((24, 24), np.uint8)
        ref[4:4 + 6 + i % 5, 5:15] = 1
        write_png(root / "ref" / f"c{i:02d}.png", ref)
        write_png(root / "pred_a" / f"c{i:02d}.png", np.roll(ref, i % 3, axis=1))
        write_png(root / "pred_b" / f"c{i:02d}.png", np.roll(ref, 1, axis=0))
        write_png(root / "img" / f"c{i:02d}.png", (ref * 120 + 40).astype(np.uint8))
    return root / "ref", root / "pred_a", root / "pred_b", root / "img"


def _dice(ref: np.ndarray, pred: np.ndarray) -> float:
    return 2 * float(((ref > 0) & (pred > 0)).sum()) / float((ref > 0).sum() + (pred > 0).sum())


def test_compare_writes_json_csv_report_and_scipys_wilcoxon(tmp_path: Path,
                                                             write_png: Callable) -> None:
    ref, a, b, _ = _folders(tmp_path, write_png)
    c = compare([a, b], ref, out=tmp_path / "cmp", bootstrap=BootstrapOptions(500, 1, "bca", 0.95))
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["methods"] == {"pred_a": str(a), "pred_b": str(b)} and doc["num_cases"] == 12
    va = np.array([row["pred_a"] for row in doc["per_case"]])
    vb = np.array([row["pred_b"] for row in doc["per_case"]])
    for row, x, y in zip(doc["per_case"], va, vb, strict=True):  # the Dice of each folder
        mask = read_mask(ref / f"{row['case']}.png")[0]
        assert x == pytest.approx(_dice(mask, read_mask(a / f"{row['case']}.png")[0]), abs=1e-12)
        assert y == pytest.approx(_dice(mask, read_mask(b / f"{row['case']}.png")[0]), abs=1e-12)
    (pair,) = doc["comparisons"]
    expected = stats.wilcoxon(vb - va)
    assert pair["wilcoxon"]["p_value"] == expected.pvalue
    assert pair["wilcoxon"]["statistic"] == expected.statistic
    d = vb - va
    assert (pair["wins"], pair["ties"], pair["losses"]) == (
        int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum()))
    ci = pair["mean_difference"]
    assert ci["estimate"] == pytest.approx(d.mean()) and ci["low"] < ci["estimate"] < ci["high"]
    assert (ci["n_resamples"], ci["seed"], ci["unit"]) == (500, 1, "case")
    assert pair["disagreements"][0] == doc["per_case"][int(np.argmax(np.abs(d)))]["case"]
    with (tmp_path / "cmp" / "compare.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["case", "pred_a", "pred_b", "pred_b-pred_a"]
    assert [float(r[3]) for r in rows[1:]] == pytest.approx(list(d), abs=1e-12)
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<img") == 2  # paired, differences
    assert c.pairs[0].wilcoxon.p_value == expected.pvalue and c.methods == ("pred_a", "pred_b")


def test_compare_three_methods_hd95_names_and_overlays(tmp_path: Path, write_png: Callable) -> None:
    ref, a, b, img = _folders(tmp_path, write_png, n=13)  # A's HD95: 0 (5 cases), 1 and 2 (4)
    c = compare([a, b, a], ref, out=tmp_path / "cmp", names=["A", "B", "A2"], metric="hd95",
                images=img, bootstrap=BootstrapOptions(200, 0, "percentile", 0.95))
    assert [(p.method_a, p.method_b) for p in c.pairs] == [("A", "B"), ("A", "A2")]
    assert not c.higher_is_better and not c.pairs[0].higher_is_better
    hd_b = {r.case: r.hd95["class_1"] for r in c.evaluations[1].document().per_case if r.hd95}
    assert set(hd_b.values()) == {1.0}  # shifted by one pixel everywhere
    first = c.pairs[0]
    # lower is better: B wins where A's HD95 is above 1
    assert (first.wins, first.losses) == (4, 5)
    assert first.wins == sum(d.a > 1.0 for d in first.differences)
    assert first.losses == sum(d.a < 1.0 for d in first.differences)
    assert (c.pairs[1].ties, c.pairs[1].wilcoxon.p_value) == (13, None)  # A against itself
    html = (tmp_path / "cmp" / "report.html").read_text()
    # 2 figures per pair + 3 disagreement overlays for A-B (A-A2 has none: all tie at 0)
    assert html.count("<img") == 2 * 2 + 3
    rows = list(csv.reader((tmp_path / "cmp" / "compare.csv").open(newline="")))
    assert rows[0] == ["case", "A", "B", "A2", "B-A", "A2-A"]


def test_compare_lesion_f1(tmp_path: Path, write_png: Callable) -> None:
    ref, a, b, _ = _folders(tmp_path, write_png, n=4)
    write_png(a / "c00.png", np.zeros((24, 24), np.uint8))  # the lesion missed: F1 0
    c = compare([a, b], ref, metric="lesion_f1", bootstrap=BootstrapOptions(100, 0, "bca", 0.95))
    values = {d.case_id: (d.a, d.b) for d in c.pairs[0].differences}
    assert values == {"c00": (0.0, 1.0), "c01": (1.0, 1.0), "c02": (1.0, 1.0), "c03": (1.0, 1.0)}


def test_compare_errors(tmp_path: Path, write_png: Callable) -> None:
    ref, a, b, _ = _folders(tmp_path, write_png, n=2)
    with pytest.raises(ValueError, match="at least two prediction folders"):
        compare([a], ref)
    with pytest.raises(ValueError, match=r"--metric 'hd96'.*foreground_dice, dice\.class_1"):
        compare([a, b], ref, metric="hd96")
    with pytest.raises(ValueError, match="--names: give 2 different names"):
        compare([a, b], ref, names=["x", "x"])
    with pytest.raises(ValueError, match="drop --no-lesions"):
        compare([a, b], ref, metric="lesion_f1", lesions=None)


def test_compare_eroded_and_dilated_brain_masks(shared_data: Path, tmp_path: Path) -> None:
    ref = shared_data / "colin27_brain" / "test" / "masks"
    for f in sorted(ref.glob("*.png")):
        mask = read_mask(f)[0] > 0
        for name, op, n in (("eroded", ndimage.binary_erosion, 2),
                            ("dilated", ndimage.binary_dilation, 4)):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(op(mask, iterations=n).astype(np.uint8)).save(tmp_path / name / f.name)
    c = compare([tmp_path / "eroded", tmp_path / "dilated"], ref, out=tmp_path / "cmp",
                bootstrap=BootstrapOptions(500, 0, "bca", 0.95))
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["num_cases"] == 24 and doc["metric"] == "foreground_dice"
    eroded = np.array([r["eroded"] for r in doc["per_case"]])
    dilated = np.array([r["dilated"] for r in doc["per_case"]])
    (pair,) = doc["comparisons"]
    assert pair["wilcoxon"]["p_value"] == stats.wilcoxon(dilated - eroded).pvalue
    # 4 px added around every brain costs more Dice than 2 px removed: dilated loses every case
    assert np.all(dilated < eroded) and np.all(eroded < 1.0)
    assert (pair["wins"], pair["losses"]) == (0, 24) and pair["wilcoxon"]["p_value"] < 1e-6
    assert pair["mean_difference"]["reliable"] is True and pair["mean_difference"]["high"] < 0
    assert (tmp_path / "cmp" / "report.html").stat().st_size > 0
    assert c.pairs[0].mean_difference.estimate == pytest.approx(float((dilated - eroded).mean()))
