"""Up-front dataset validation: the summary, and one problem per bad file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.cli import main
from medunet.config import Config
from medunet.data import DatasetError, DatasetSummary, LabelSet, check_dataset, inspect_dataset
from medunet.data.fingerprint import fingerprint_cases
from medunet.data.loader import read_cases
from medunet.plan import Plan, make_plan


def _plan(s: DatasetSummary) -> Plan:
    """The plan for every case of the summary (the trainer plans from the training cases only)."""
    assert s.labels is not None
    return make_plan(fingerprint_cases(read_cases([c for cs in s.cases.values() for c in cs])),
                     s.labels, Config())


def _mask_with(shape: tuple[int, int], values: dict[tuple[int, int], int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    for (y, x), v in values.items():
        m[y, x] = v
    return m


def test_valid_dataset_summary(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", n=2, size=(32, 40), classes=3)
    s = check_dataset(root)
    assert s.problems == []
    assert {k: len(v) for k, v in s.cases.items()} == {"train": 2, "val": 2, "test": 2}
    assert s.labels is not None and s.labels.values == (0, 1, 2) and not s.labels.declared
    assert dict(s.shapes) == {(32, 40): 6} and dict(s.channels) == {1: 6} and dict(s.dtypes) == {"uint8": 6}
    assert s.num_channels == 1
    assert s.with_foreground == {"train": 2, "val": 2, "test": 2}
    assert sum(s.label_pixels.values()) == 6 * 32 * 40
    d = s.to_dict()
    json.dumps(d)  # JSON-ready
    assert d["labels_declared"] is False and d["problems"] == []
    assert d["splits"] == {sp: {"cases": 2, "with_foreground": 2} for sp in ("train", "val", "test")}
    assert d["shapes"] == {"32x40": 6}
    assert abs(sum(d["label_fraction"].values()) - 1.0) < 1e-12
    lo, hi = d["intensity_range"]
    assert 0 <= lo < hi <= 255


def test_rgb_dataset(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    s = check_dataset(make_dataset(tmp_path / "d", splits=("train",), n=2, rgb=True))
    assert dict(s.channels) == {3: 2} and s.num_channels == 3


def test_masks_stored_as_0_255(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    s = check_dataset(make_dataset(tmp_path / "d", splits=None, n=3, mask_255=True))
    assert s.binary_255 == 3
    assert s.labels is not None and s.labels.values == (0, 1)
    assert set(s.label_pixels) == {0, 1}


def test_declared_labels_from_dataset_json(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=2)
    (root / "dataset.json").write_text(json.dumps({"classes": {"background": 0, "lesion": 1, "edema": 2}}))
    s = check_dataset(root)
    assert s.labels is not None and s.labels.declared
    assert s.labels.names == ("background", "lesion", "edema")  # class 2 declared though absent
    assert 2 not in s.label_pixels


def test_all_background_masks_are_a_binary_task(tmp_path: Path, write_png: Callable) -> None:
    for i in range(2):
        write_png(tmp_path / "images" / f"c{i}.png", np.full((16, 16), 9, np.uint8))
        write_png(tmp_path / "masks" / f"c{i}.png", np.zeros((16, 16), np.uint8))
    s = check_dataset(tmp_path)
    assert s.labels is not None and s.labels.num_classes == 2 and s.with_foreground == {}


def test_non_contiguous_discovered_labels(tmp_path: Path, write_png: Callable) -> None:
    write_png(tmp_path / "images" / "a.png", np.zeros((16, 16), np.uint8))
    write_png(tmp_path / "masks" / "a.png", _mask_with((16, 16), {(1, 1): 2, (2, 2): 5}))
    s = inspect_dataset(tmp_path)
    assert len(s.problems) == 1 and s.problems[0].path == tmp_path
    assert "[0, 2, 5] are not 0..K-1" in s.problems[0].message
    # declaring the labels turns it into per-file problems instead
    s = inspect_dataset(tmp_path, labels=LabelSet.from_values([0, 1, 2]))
    assert [(p.path.name, "[5] outside" in p.message) for p in s.problems] == [("a.png", True)]


def test_labels_must_be_a_labelset(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=1)
    with pytest.raises(TypeError, match="LabelSet.from_values"):
        inspect_dataset(root, [0, 1])  # type: ignore[arg-type]


def test_declared_labelset_wins_over_dataset_json(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=1)
    (root / "dataset.json").write_text(json.dumps({"classes": {"0": "bg", "1": "a", "2": "b"}}))
    assert inspect_dataset(root).labels == LabelSet((0, 1, 2), ("bg", "a", "b"))
    declared = LabelSet.from_values([0, 1], ["out", "in"])
    s = check_dataset(root, declared)
    assert s.labels is declared and s.problems == []


def test_declared_labels_flag_a_value_outside(tmp_path: Path, make_dataset: Callable[..., Path],
                                              write_png: Callable) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=2)
    write_png(root / "masks" / "case_01.png", _mask_with((32, 40), {(0, 0): 3}))
    with pytest.raises(DatasetError) as exc:
        check_dataset(root, labels=LabelSet.from_values([0, 1]))
    (p,) = exc.value.problems
    assert p.path == root / "masks" / "case_01.png" and "[3] outside the declared labels [0, 1]" in p.message


def test_mixed_channel_counts(tmp_path: Path, make_dataset: Callable[..., Path], write_png: Callable) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=3)
    write_png(root / "images" / "case_02.png", np.zeros((32, 40, 3), np.uint8))
    s = inspect_dataset(root)
    assert len(s.problems) == 1 and s.problems[0].path == root
    assert "different channel counts" in s.problems[0].message
    assert dict(s.channels) == {1: 2, 3: 1}


def test_tiny_image(tmp_path: Path, write_png: Callable) -> None:
    write_png(tmp_path / "images" / "dot.png", np.zeros((1, 1), np.uint8))
    write_png(tmp_path / "masks" / "dot.png", np.ones((1, 1), np.uint8))
    write_png(tmp_path / "images" / "ok.png", np.zeros((8, 8), np.uint8))
    write_png(tmp_path / "masks" / "ok.png", np.zeros((8, 8), np.uint8))
    s = inspect_dataset(tmp_path)
    assert [p.path.name for p in s.problems] == ["dot.png"]
    assert s.problems[0].path.parent.name == "images" and "1x1 pixels" in s.problems[0].message


def test_problem_messages_do_not_repeat_the_path(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=1)
    (root / "masks" / "case_00.png").write_text("not a png")
    (p,) = inspect_dataset(root).problems
    assert p.path == root / "masks" / "case_00.png"
    assert not p.message.startswith(str(p.path)) and str(p) == f"{p.path}: {p.message}"


def test_load_dataset_raises_with_every_problem(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=3)
    (root / "images" / "case_00.png").write_bytes(b"")
    (root / "masks" / "case_01.png").unlink()
    with pytest.raises(DatasetError) as exc:
        check_dataset(root)
    assert sorted(p.path.name for p in exc.value.problems) == ["case_00.png", "case_01.png"]
    assert len(str(exc.value).splitlines()) == 2


def test_real_sample_datasets_are_clean(shared_data: Path) -> None:
    s = check_dataset(shared_data / "mni152_tissue")
    assert s.labels is not None and s.labels.declared and s.labels.num_classes == 4
    assert {k: len(v) for k, v in s.cases.items()} == {"train": 74, "val": 24, "test": 24}
    assert dict(s.shapes) == {(240, 208): 122}
    s = check_dataset(shared_data / "brain_tumor_mr")
    assert set(s.cases) == {"train", "test"}  # no val/ folder
    assert s.with_foreground == {"train": 7, "test": 3}


def _broken_dataset(root: Path, make_dataset: Callable[..., Path], write_png: Callable) -> dict[str, Path]:
    """Five cases; four of them each have exactly one problem."""
    make_dataset(root, splits=("train",), n=5, size=(32, 40), classes=2)
    img, msk = root / "train" / "images", root / "train" / "masks"
    data = (img / "train_00.png").read_bytes()
    (img / "train_00.png").write_bytes(data[: len(data) // 2])  # corrupt (truncated) PNG
    (msk / "train_01.png").unlink()  # missing mask
    write_png(msk / "train_02.png", np.zeros((30, 40), np.uint8))  # size mismatch
    write_png(msk / "train_03.png", _mask_with((32, 40), {(5, 5): 7, (6, 6): 1}))  # 7 in a 2-class task
    return {
        "corrupt": img / "train_00.png",
        "missing mask": img / "train_01.png",
        "size": msk / "train_02.png",
        "value": msk / "train_03.png",
    }


def test_acceptance_inspect_reports_each_bad_file_once(
    tmp_path: Path, make_dataset: Callable[..., Path], write_png: Callable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = _broken_dataset(tmp_path / "d", make_dataset, write_png)
    code = main(["inspect", str(tmp_path / "d"), "--labels", "0,1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, err
    for path in bad.values():
        assert sum(f"error: {path}:" in line for line in errors) == 1, (path, errors)
    by_file = {Path(line.split(": ")[1]): line for line in errors}
    assert "truncated" in by_file[bad["corrupt"]] or "not a readable image" in by_file[bad["corrupt"]]
    assert "no mask" in by_file[bad["missing mask"]]
    assert "30x40" in by_file[bad["size"]] and "32x40" in by_file[bad["size"]]
    assert "[7]" in by_file[bad["value"]]


def test_acceptance_same_problems_from_the_api(
    tmp_path: Path, make_dataset: Callable[..., Path], write_png: Callable
) -> None:
    bad = _broken_dataset(tmp_path / "d", make_dataset, write_png)
    with pytest.raises(DatasetError) as exc:
        check_dataset(tmp_path / "d", labels=LabelSet.from_values([0, 1]))
    assert sorted(p.path for p in exc.value.problems) == sorted(bad.values())


def test_zero_background_is_measured_and_planned(tmp_path: Path, make_dataset: Callable[..., Path],
                                                 write_png: Callable[[Path, np.ndarray], Path]) -> None:
    root = make_dataset(tmp_path / "d", n=2, size=(32, 40))
    s = check_dataset(root)
    assert s.zero_fraction < 0.05
    assert _plan(s).normalization == "zscore"
    # blank out the left half of every image: a zero background, as in skull-stripped MRI
    for path in root.glob("*/images/*.png"):
        img = np.array(Image.open(path))
        img[:, :20] = 0
        write_png(path, img)
    s = check_dataset(root)
    assert len(s.zero_fractions) == 6 and 0.5 <= s.zero_fraction < 0.6
    assert s.to_dict()["zero_background_fraction"] == s.zero_fraction
    assert _plan(s).normalization == "zscore_nonzero"
