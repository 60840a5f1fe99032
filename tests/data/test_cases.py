"""Finding image/mask pairs on disk: layouts, naming conventions, and every layout problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medunet.data import DatasetError, LabelSet, discover_cases, list_images, resolve_labels

Img = np.zeros((16, 16), np.uint8)


def _problems_by_name(problems: list) -> dict[str, str]:
    return {p.path.name: p.message for p in problems}


def test_split_layout(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", n=2)
    cases, problems = discover_cases(root)
    assert problems == []
    assert list(cases) == ["train", "val", "test"]
    for split, items in cases.items():
        assert [c.case_id for c in items] == [f"{split}_00", f"{split}_01"]
        for c in items:
            assert c.split == split
            assert c.image == root / split / "images" / f"{c.case_id}.png"
            assert c.mask == root / split / "masks" / f"{c.case_id}.png"


def test_flat_layout_is_split_all(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=3)
    cases, problems = discover_cases(root)
    assert problems == [] and list(cases) == ["all"]
    assert [c.case_id for c in cases["all"]] == ["case_00", "case_01", "case_02"]
    assert all(c.split == "all" for c in cases["all"])


def test_subset_of_splits(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=("train", "test"), n=1)
    cases, problems = discover_cases(root)
    assert problems == [] and list(cases) == ["train", "test"]


@pytest.mark.parametrize("suffix", ["", "_mask", "_seg"])
def test_mask_naming_conventions(tmp_path: Path, write_png: Callable, suffix: str) -> None:
    write_png(tmp_path / "images" / "a.png", Img)
    write_png(tmp_path / "masks" / f"a{suffix}.png", Img)
    cases, problems = discover_cases(tmp_path)
    assert problems == []
    (case,) = cases["all"]
    assert case.case_id == "a" and case.mask == tmp_path / "masks" / f"a{suffix}.png"


def test_mask_in_another_format_pairs_by_stem(tmp_path: Path, write_png: Callable) -> None:
    write_png(tmp_path / "images" / "a.jpg", Img)
    write_png(tmp_path / "masks" / "a.png", Img)
    cases, problems = discover_cases(tmp_path)
    assert problems == [] and cases["all"][0].mask.name == "a.png"


def test_every_layout_problem_is_reported_at_once(tmp_path: Path, write_png: Callable) -> None:
    write_png(tmp_path / "images" / "ok.png", Img)
    write_png(tmp_path / "masks" / "ok.png", Img)
    write_png(tmp_path / "images" / "nomask.png", Img)
    write_png(tmp_path / "masks" / "orphan.png", Img)
    write_png(tmp_path / "images" / "dup.png", Img)
    write_png(tmp_path / "images" / "dup.tif", Img)
    write_png(tmp_path / "masks" / "dup.png", Img)
    (tmp_path / "images" / "notes.txt").write_text("hello")
    (tmp_path / "images" / ".hidden.png").write_text("ignored")
    (tmp_path / "images" / "sub").mkdir()
    cases, problems = discover_cases(tmp_path)
    assert sorted(c.case_id for c in cases["all"]) == ["dup", "ok"]
    by = _problems_by_name(problems)
    assert set(by) == {"nomask.png", "orphan.png", "dup.tif", "notes.txt"}
    assert "no mask for this image" in by["nomask.png"]
    assert "no matching image" in by["orphan.png"]
    assert "duplicate case name 'dup'" in by["dup.tif"] and "dup.png" in by["dup.tif"]
    assert "unsupported file type '.txt'" in by["notes.txt"]
    paths = {p.path for p in problems}
    assert tmp_path / "images" / "nomask.png" in paths
    assert tmp_path / "masks" / "orphan.png" in paths


def test_unused_second_mask_is_an_orphan(tmp_path: Path, write_png: Callable) -> None:
    write_png(tmp_path / "images" / "a.png", Img)
    write_png(tmp_path / "masks" / "a.png", Img)
    write_png(tmp_path / "masks" / "a_mask.png", Img)
    cases, problems = discover_cases(tmp_path)
    assert cases["all"][0].mask == tmp_path / "masks" / "a.png"
    assert [p.path.name for p in problems] == ["a_mask.png"]


def test_empty_split(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=("train",), n=2)
    (root / "val" / "images").mkdir(parents=True)
    (root / "val" / "masks").mkdir(parents=True)
    cases, problems = discover_cases(root)
    assert cases["val"] == [] and len(cases["train"]) == 2
    assert len(problems) == 1 and problems[0].path == root / "val" / "images"
    assert "'val' has no image/mask pairs" in problems[0].message


def test_split_missing_masks_folder(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=("train",), n=1)
    (root / "test" / "images").mkdir(parents=True)
    cases, problems = discover_cases(root)
    assert "test" not in cases
    assert [p.path for p in problems] == [root / "test" / "masks"]


def test_root_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as exc:
        discover_cases(tmp_path / "nope")
    assert [p.path for p in exc.value.problems] == [tmp_path / "nope"]
    assert "does not exist" in exc.value.problems[0].message
    assert isinstance(exc.value, ValueError)


def test_root_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(DatasetError) as exc:
        discover_cases(tmp_path / "f.png")
    assert "is a file" in exc.value.problems[0].message


def test_root_without_layout(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetError, match="no dataset layout found"):
        discover_cases(tmp_path)


def test_list_images(tmp_path: Path, make_dataset: Callable[..., Path], write_png: Callable) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=2)
    expected = [root / "images" / "case_00.png", root / "images" / "case_01.png"]
    assert list_images(root) == expected  # a folder holding images/
    assert list_images(root / "images") == expected
    assert list_images(expected[1]) == [expected[1]]
    write_png(root / "images" / "case_00.tif", Img)
    with pytest.raises(DatasetError, match="duplicate case name"):
        list_images(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        list_images(tmp_path / "missing")


# --- label sets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mapping",
    [{"0": "bg", "1": "tumour"}, {"bg": 0, "tumour": 1}, {"1": "tumour", "0": "bg"}],
    ids=["value-to-name", "name-to-value", "unordered"],
)
def test_dataset_json_label_map(tmp_path: Path, mapping: dict) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"classes": mapping}))
    labels = resolve_labels(tmp_path)
    assert labels == LabelSet((0, 1), ("bg", "tumour"), declared=True)


def test_dataset_json_labels_key(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "a": 1, "b": 2}}))
    labels = resolve_labels(tmp_path)
    assert labels is not None and labels.values == (0, 1, 2) and labels.names == ("background", "a", "b")


def test_explicit_labels_win_over_dataset_json(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"classes": {"0": "bg", "1": "fg"}}))
    labels = resolve_labels(tmp_path, labels=[2, 0, 1])
    assert labels is not None and labels.values == (0, 1, 2) and labels.declared
    assert labels.names == ("background", "class_1", "class_2")
    named = resolve_labels(tmp_path, labels=[0, 1], names=["out", "in"])
    assert named is not None and named.names == ("out", "in")


def test_no_declaration_gives_none(tmp_path: Path) -> None:
    assert resolve_labels(tmp_path) is None
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "x"}))
    assert resolve_labels(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"classes": ["bg", "fg"]}), "must map label values to names"),
        (json.dumps({"classes": {"bg": "fg"}}), "cannot read class entry"),
        (json.dumps({"classes": {"0": "bg", "2": "fg"}}), "no gaps"),
        (json.dumps({"classes": {"0": "bg"}}), "at least 2 labels"),
    ],
)
def test_bad_dataset_json(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "dataset.json").write_text(text)
    with pytest.raises(ValueError, match=match):
        resolve_labels(tmp_path)


def test_labelset_validation() -> None:
    with pytest.raises(ValueError, match="no gaps"):
        LabelSet((0, 2), ("a", "b"))
    with pytest.raises(ValueError, match="2 labels but 3 label names"):
        LabelSet((0, 1), ("a", "b", "c"))
    ls = LabelSet.from_count(3)
    assert ls.num_classes == 3 and not ls.declared
    assert ls.to_dict() == {"0": "background", "1": "class_1", "2": "class_2"}


def test_labelset_from_values_and_from_dict() -> None:
    ls = LabelSet.from_values([2, 0, 1, 1], ["bg", "liver", "tumour"])
    assert ls == LabelSet((0, 1, 2), ("bg", "liver", "tumour"), declared=True)
    assert LabelSet.from_values([1, 0]).names == ("background", "class_1")
    assert LabelSet.from_dict(ls.to_dict()) == ls  # the checkpoint round trip
    with pytest.raises(ValueError, match="no gaps"):
        LabelSet.from_values([0, 2])
    with pytest.raises(ValueError, match="2 labels but 1 label names"):
        LabelSet.from_values([0, 1], ["bg"])
    with pytest.raises(ValueError, match="at most 255"):
        LabelSet.from_values(range(300))


def test_label_names_alone_rename_dataset_json_or_count_the_labels(tmp_path: Path) -> None:
    assert resolve_labels(tmp_path, names=["bg", "a", "b"]) == LabelSet((0, 1, 2), ("bg", "a", "b"))
    (tmp_path / "dataset.json").write_text(json.dumps({"classes": {"0": "background", "1": "x"}}))
    assert resolve_labels(tmp_path, names=["bg", "cell"]) == LabelSet((0, 1), ("bg", "cell"))
