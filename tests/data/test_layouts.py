"""nnU-Net v2 and Decathlon datasets read as they are: cases, channels, splits, labels, problems."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from layout_kit import (
    AFFINE,
    ORIGIN_LPS,
    SPACING,
    SynthCase,
    synth_cases,
    write_medunet,
    write_msd,
    write_nifti,
    write_nnunet,
)

from medunet.cli import main
from medunet.data import (
    DatasetError,
    LabelSet,
    detect_layout,
    discover_cases,
    inspect_dataset,
    resolve_labels,
)
from medunet.data.case import read_case_image
from medunet.io import read_mask

TRAIN = synth_cases(3, seed=1)
TEST = synth_cases(2, seed=2, prefix="test")


def _messages(problems: list) -> dict[str, str]:
    return {p.path.name: p.message for p in problems}


@pytest.fixture
def nnunet(tmp_path: Path) -> Path:
    return write_nnunet(tmp_path / "Dataset001_Synth", {"train": TRAIN, "test": TEST})


@pytest.fixture
def msd(tmp_path: Path) -> Path:
    return write_msd(tmp_path / "Task01_Synth", {"train": TRAIN, "test": TEST})


def _assert_reads_back(case_image: np.ndarray, truth: SynthCase) -> None:
    assert case_image.shape == truth.channels.shape
    np.testing.assert_allclose(case_image, truth.channels, rtol=0, atol=1e-4)


# --- nnU-Net v2 -----------------------------------------------------------------------------------


def test_nnunet_dataset_is_read_as_it_is(nnunet: Path) -> None:
    cases, problems = discover_cases(nnunet)
    assert problems == [] and detect_layout(nnunet)[0] == "nnunet"
    assert list(cases) == ["train", "test"]
    assert [c.case_id for c in cases["train"]] == [c.case_id for c in TRAIN]
    for split, folder, truths in (("train", "Tr", TRAIN), ("test", "Ts", TEST)):
        for case, truth in zip(cases[split], truths, strict=True):
            assert case.split == split
            assert case.image == nnunet / f"images{folder}" / f"{truth.case_id}_0000.nii.gz"
            assert case.channels == (nnunet / f"images{folder}" / f"{truth.case_id}_0001.nii.gz",)
            assert case.mask == nnunet / f"labels{folder}" / f"{truth.case_id}.nii.gz"
            image, _ = read_case_image(case)
            _assert_reads_back(image, truth)  # channel 0 is the _0000 file, channel 1 the _0001
    assert resolve_labels(nnunet) == LabelSet((0, 1), ("background", "tumour"), declared=True)


def test_splits_final_fold_zero_is_the_val_split(nnunet: Path) -> None:
    val_id = TRAIN[1].case_id
    (nnunet / "splits_final.json").write_text(json.dumps([
        {"train": [TRAIN[0].case_id, TRAIN[2].case_id], "val": [val_id]},
        {"train": [TRAIN[1].case_id, TRAIN[2].case_id], "val": [TRAIN[0].case_id]},
    ]))
    cases, problems = discover_cases(nnunet)
    assert problems == []
    assert [c.case_id for c in cases["train"]] == [TRAIN[0].case_id, TRAIN[2].case_id]
    assert [(c.case_id, c.split) for c in cases["val"]] == [(val_id, "val")]
    assert cases["val"][0].mask == nnunet / "labelsTr" / f"{val_id}.nii.gz"


def test_without_labels_ts_there_is_no_test_split(tmp_path: Path) -> None:
    root = write_nnunet(tmp_path / "d", {"train": TRAIN})
    write_nifti(root / "imagesTs" / "x_0000.nii.gz", TEST[0].channels[0])
    write_nifti(root / "imagesTs" / "x_0001.nii.gz", TEST[0].channels[1])
    cases, problems = discover_cases(root)
    assert problems == [] and list(cases) == ["train"]


def test_file_ending_decides_which_files_are_images(nnunet: Path) -> None:
    (nnunet / "imagesTr" / "README.txt").write_text("notes")
    write_nifti(nnunet / "imagesTr" / "other_0000.nii", TRAIN[0].channels[0])  # not .nii.gz
    (nnunet / "imagesTr" / f".{TRAIN[0].case_id}_0000.nii.gz").write_bytes(b"junk")
    cases, problems = discover_cases(nnunet)
    assert problems == [] and len(cases["train"]) == len(TRAIN)
    (nnunet / "dataset.json").write_text(json.dumps({
        **json.loads((nnunet / "dataset.json").read_text()), "file_ending": ".nii"}))
    cases, problems = discover_cases(nnunet)
    # with file_ending .nii only other_0000.nii is an image: it has neither a second channel nor a label
    assert _messages(problems)["other_0000.nii"].startswith("case 'other' has 1 channel file(s)")


def _drop(name: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        next(root.rglob(name)).unlink()
    return edit


def _set_json(name: str, value: object) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / name).write_text(json.dumps(value))
    return edit


def _extra_label(root: Path) -> None:
    write_nifti(root / "labelsTr" / "ghost.nii.gz", TRAIN[0].mask)


def _unnumbered_image(root: Path) -> None:
    write_nifti(root / "imagesTr" / "plain.nii.gz", TRAIN[0].channels[0])


def _three_channels(root: Path) -> None:
    meta = json.loads((root / "dataset.json").read_text())
    (root / "dataset.json").write_text(json.dumps({**meta, "channel_names": {"0": "a", "1": "b", "2": "c"}}))


@pytest.mark.parametrize(("edit", "where", "fragment"), [
    (_drop(f"{TRAIN[0].case_id}.nii.gz"), f"{TRAIN[0].case_id}_0000.nii.gz", "no label for case"),
    (_drop(f"{TRAIN[0].case_id}_0000.nii.gz"), f"{TRAIN[0].case_id}_0001.nii.gz", "_0000 missing"),
    (_extra_label, "ghost.nii.gz", "label has no image"),
    (_unnumbered_image, "plain.nii.gz", "expected plain_0000.nii.gz"),
    (_three_channels, f"{TRAIN[0].case_id}_0000.nii.gz", "channel_names lists 3"),
    (_set_json("splits_final.json", [{"train": [TRAIN[0].case_id], "val": ["nobody"]}]),
     "splits_final.json", "nobody"),
    (_set_json("splits_final.json", {"fold": 0}), "splits_final.json", "list of folds"),
], ids=["no-label", "channel-gap", "orphan-label", "no-channel-index", "channel-count",
        "unknown-split-case", "bad-splits"])
def test_nnunet_problems_name_the_file(nnunet: Path, edit: Callable[[Path], None], where: str,
                                       fragment: str) -> None:
    edit(nnunet)
    _, problems = discover_cases(nnunet)
    assert fragment in _messages(problems)[where]


@pytest.mark.parametrize(("labels", "fragment"), [
    ({"background": 0, "whole tumour": [1, 2], "core": 2}, "region"),
    ({"background": 0, "tumour": 1, "ignore": 2}, "ignore"),
])
def test_region_and_ignore_labels_are_refused(tmp_path: Path, labels: dict, fragment: str) -> None:
    root = write_nnunet(tmp_path / "d", {"train": TRAIN[:1]}, labels=labels)
    with pytest.raises(ValueError, match=fragment) as err:
        inspect_dataset(root)
    assert str(root / "dataset.json") in str(err.value)


def test_single_value_lists_are_plain_labels(tmp_path: Path) -> None:
    root = write_nnunet(tmp_path / "d", {"train": TRAIN[:1]}, labels={"background": [0], "tumour": [1]})
    assert resolve_labels(root) == LabelSet((0, 1), ("background", "tumour"))


@pytest.mark.parametrize(("text", "fragment"), [
    (None, "no nnU-Net v2 or Decathlon dataset.json"),
    ("{broken", "not valid JSON"),
    (json.dumps({"labels": {"background": 0, "a": 1}}), "no nnU-Net v2 or Decathlon dataset.json"),
    (json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 1}, "file_ending": ".npz"}),
     "file_ending '.npz'"),
    (json.dumps({"channel_names": {}, "labels": {"background": 0, "a": 1}, "file_ending": ".nii.gz"}),
     "channel_names must name every channel"),
])
def test_images_tr_needs_a_usable_dataset_json(nnunet: Path, text: str | None, fragment: str) -> None:
    if text is None:
        (nnunet / "dataset.json").unlink()
    else:
        (nnunet / "dataset.json").write_text(text)
    with pytest.raises(DatasetError, match=fragment) as err:
        discover_cases(nnunet)
    assert err.value.problems[0].path == nnunet / "dataset.json"


def test_same_data_in_medunet_layout_gives_the_same_summary(nnunet: Path, msd: Path, tmp_path: Path) -> None:
    def summary(root: Path) -> dict:
        d = inspect_dataset(root).to_dict()
        assert d.pop("root") == str(root)
        return d

    ours = summary(write_medunet(tmp_path / "ours", {"train": TRAIN, "test": TEST}))
    assert ours.pop("layout") == "medunet"
    for root, layout in ((nnunet, "nnunet"), (msd, "msd")):
        theirs = summary(root)
        assert theirs.pop("layout") == layout and theirs["problems"] == []
        assert theirs == ours


# --- Decathlon ------------------------------------------------------------------------------------


def test_msd_4d_images_are_split_into_channels_with_their_geometry(msd: Path) -> None:
    cases, problems = discover_cases(msd)
    assert problems == [] and detect_layout(msd)[0] == "msd"  # the ._ files are not read
    assert list(cases) == ["train", "test"]
    for split, folder, truths in (("train", "Tr", TRAIN), ("test", "Ts", TEST)):
        assert [c.case_id for c in cases[split]] == [t.case_id for t in truths]
        for case, truth in zip(cases[split], truths, strict=True):
            assert case.image == msd / f"images{folder}" / f"{truth.case_id}.nii.gz" and case.channels == ()
            assert case.mask == msd / f"labels{folder}" / f"{truth.case_id}.nii.gz"
            image, meta = read_case_image(case)
            _assert_reads_back(image, truth)
            assert meta.channels == 2 and meta.shape == truth.mask.shape
            np.testing.assert_allclose(meta.spacing, SPACING, atol=1e-6)
            np.testing.assert_allclose(meta.origin, ORIGIN_LPS, atol=1e-6)
            np.testing.assert_allclose(meta.ras_affine, AFFINE, atol=1e-6)
            mask, mask_meta = read_mask(case.mask)
            assert np.array_equal(mask, truth.mask)
            np.testing.assert_allclose(mask_meta.ras_affine, AFFINE, atol=1e-6)
    assert resolve_labels(msd) == LabelSet((0, 1), ("background", "tumour"))


def test_nnunet_v1_listing_with_renamed_channel_files(tmp_path: Path) -> None:
    root = write_msd(tmp_path / "Task01", {"train": TRAIN})
    for c in TRAIN:
        (root / "imagesTr" / f"{c.case_id}.nii.gz").unlink()
        for k in range(2):
            write_nifti(root / "imagesTr" / f"{c.case_id}_{k:04d}.nii.gz", c.channels[k])
    cases, problems = discover_cases(root)
    assert problems == []
    for case, truth in zip(cases["train"], TRAIN, strict=True):
        assert case.case_id == truth.case_id and len(case.image_files) == 2
        _assert_reads_back(read_case_image(case)[0], truth)


def test_msd_problems_name_the_file(msd: Path) -> None:
    meta = json.loads((msd / "dataset.json").read_text())
    meta["training"][0]["image"] = "./imagesTr/missing.nii.gz"
    meta["training"].append({"image": "./imagesTr/x.nii.gz"})
    (msd / "labelsTr" / f"{TRAIN[1].case_id}.nii.gz").unlink()
    (msd / "dataset.json").write_text(json.dumps(meta))
    cases, problems = discover_cases(msd)
    messages = _messages(problems)
    assert "does not exist" in messages["missing.nii.gz"]
    assert "label of" in messages[f"{TRAIN[1].case_id}.nii.gz"]
    assert "training entry 3" in messages["dataset.json"]
    assert [c.case_id for c in cases["train"]] == [TRAIN[2].case_id]


def test_nnunet_2d_rgb_png_holds_all_channels_in_one_file(tmp_path: Path,
                                                          write_png: Callable[[Path, np.ndarray], Path]) -> None:
    root = tmp_path / "Dataset002_Polyps"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_png(root / "imagesTr" / f"p{i}_0000.png", rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
        write_png(root / "labelsTr" / f"p{i}.png", (rng.random((24, 32)) > 0.5).astype(np.uint8))
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "R", "1": "G", "2": "B"}, "labels": {"background": 0, "polyp": 1},
        "numTraining": 2, "file_ending": ".png"}))
    s = inspect_dataset(root)
    assert s.problems == [] and s.num_channels == 3
    assert [(c.case_id, c.channels) for c in s.cases["train"]] == [("p0", ()), ("p1", ())]
    assert main(["inspect", str(root)]) == 0  # the CLI takes the folder as it is
