"""Groups of training cases and the group-aware validation split (medunet.data.groups/.split)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from medunet.data.cases import Case
from medunet.data.check import check_dataset
from medunet.data.groups import case_group_map, slice_group
from medunet.data.split import make_split, split_cases


def _cases(ids: list[str], split: str = "train") -> list[Case]:
    return [Case(i, Path(f"{i}.png"), Path(f"{i}_mask.png"), split) for i in ids]


def _summary(root: Path, train: list[str], val: list[str] | None = None) -> SimpleNamespace:
    cases = {"train": _cases(train)}
    if val:
        cases["val"] = _cases(val, "val")
    return SimpleNamespace(root=root, cases=cases)


def test_slice_name_rule() -> None:
    assert slice_group("colin27_brain_s006") == "colin27_brain"
    assert slice_group("brain1_z000") == "brain1"
    assert slice_group("case3_slice7") == "case3"
    assert slice_group("vol-s045") == "vol"
    assert slice_group("dsb_tile01") == "dsb_tile01"
    assert slice_group("train_00") == "train_00"


def test_group_sources_in_order(tmp_path: Path) -> None:
    ids = ["p1_a", "p1_b", "p2_a"]
    assert case_group_map(ids) == ({i: i for i in ids}, "slice names")
    (tmp_path / "dataset.json").write_text(json.dumps({"groups": {"x": ["p1_a", "p2_a"], "y": ["p1_b"]}}))
    assert case_group_map(ids, dataset_json=tmp_path / "dataset.json") == (
        {"p1_a": "x", "p2_a": "x", "p1_b": "y"}, "dataset.json")
    # data.group_by takes precedence over dataset.json
    assert case_group_map(ids, r"^(p\d)_", tmp_path / "dataset.json") == (
        {"p1_a": "p1", "p1_b": "p1", "p2_a": "p2"}, "data.group_by")


@pytest.mark.parametrize("pattern", [r"^(q\d)_", r"_(b)$", "(unclosed"])
def test_bad_group_by_names_the_key(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"^data\.group_by") as err:
        case_group_map(["p1_a", "p1_b"], pattern)
    assert "\n" not in str(err.value)


def test_dataset_json_lacking_a_case_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"groups": {"p1_a": "p1"}}))
    with pytest.raises(ValueError, match="dataset.json.*'p1_b'"):
        make_split(_summary(tmp_path, ["p1_a", "p1_b"]), 0.5, 0)


def test_whole_groups_are_held_out(tmp_path: Path) -> None:
    ids = [f"vol{v}_z{z:03d}" for v in range(5) for z in range(4)]
    split = make_split(_summary(tmp_path, ids), 0.2, seed=3)
    train_groups = {split.groups[c.case_id] for c in split.train}
    val_groups = {split.groups[c.case_id] for c in split.val}
    assert len(val_groups) == 1 and not train_groups & val_groups
    assert len(split.val) == 4 and len(split.train) == 16
    assert split.optimistic is False and "1 of 5 groups" in split.note
    # seeded: the same seed gives the same split
    assert make_split(_summary(tmp_path, ids), 0.2, seed=3).val == split.val
    doc = split.to_dict()
    assert doc["validation_optimistic"] is False and doc["val_groups"] == sorted(val_groups)
    assert set(doc["train_groups"]) == train_groups and doc["group_source"] == "slice names"


def test_one_case_per_group_keeps_the_old_split(tmp_path: Path) -> None:
    ids = [f"c{i:02d}" for i in range(10)]
    split = make_split(_summary(tmp_path, ids), 0.2, seed=0)
    assert len(split.val) == 2 and not split.optimistic
    assert split_cases(_summary(tmp_path, ids), 0.2, 0) == (split.train, split.val)


def test_single_group_is_optimistic(tmp_path: Path) -> None:
    ids = [f"brain1_z{z:03d}" for z in range(10)]
    split = make_split(_summary(tmp_path, ids), 0.2, seed=0)
    assert split.optimistic is True and len(split.val) == 2 and len(split.train) == 8
    assert "optimistic" in split.note and "brain1" in split.note
    one = make_split(_summary(tmp_path, ["only"]), 0.2, seed=0)
    assert one.optimistic is True and one.val == one.train and one.to_dict()["val_is_train"]


def test_val_split_sharing_groups_is_optimistic(tmp_path: Path) -> None:
    shared = make_split(_summary(tmp_path, ["b_s001", "b_s002"], ["b_s010"]), 0.2, 0)
    assert shared.optimistic is True and [c.case_id for c in shared.val] == ["b_s010"]
    apart = make_split(_summary(tmp_path, ["a_s001", "a_s002"], ["b_s010"]), 0.2, 0)
    assert apart.optimistic is False and [c.case_id for c in apart.train] == ["a_s001", "a_s002"]


def test_brain_tumor_mr_is_one_patient(shared_data: Path) -> None:
    root = shared_data / "brain_tumor_mr"
    split = make_split(check_dataset(root), 0.2, seed=0)
    assert split.optimistic is True and set(split.groups.values()) == {"brain1"}
    assert len(split.train) + len(split.val) == 25


def test_same_plain_id_in_train_and_val_is_not_shared(tmp_path: Path) -> None:
    split = make_split(_summary(tmp_path, ["c00", "c01"], ["c00"]), 0.2, 0)
    assert split.optimistic is False
