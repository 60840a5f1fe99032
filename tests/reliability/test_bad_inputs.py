"""A corpus of bad inputs, each run through the real CLI: exit code 2, one ``error:`` line per
problem naming the file and what was expected, no traceback, and nothing written.

Every case is generated in ``tmp_path``. Dataset cases go through ``medunet inspect`` *and*
``medunet train`` (which must refuse before creating its run folder); command cases exercise
``train`` options, ``predict`` and ``evaluate``. ``docs/reliability.md`` lists what the user sees.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
import torch
from PIL import Image
from reliability_kit import CliResult, PicklePayload, disc_pair, tiny_train_args, write_dataset

from medunet.checkpoint import FORMAT, VERSION

# --- file builders -----------------------------------------------------------------------------


def _png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _nii(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path))
    return path


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _replace(old: Path, new: Path, arr: np.ndarray) -> Path:
    """Swap ``old`` for ``new`` (another format, same stem) holding ``arr``."""
    old.unlink()
    new.parent.mkdir(parents=True, exist_ok=True)
    if new.suffix in (".tif", ".tiff"):
        tifffile.imwrite(new, arr)
    elif new.suffix in (".jpg", ".jpeg"):
        Image.fromarray(arr).save(new, quality=95)
    else:
        _png(new, arr)
    return new


def _volume_dataset(root: Path, n: int = 3) -> Path:
    """``root/{images,masks}/vN.nii.gz``: 8x8x8 volumes (the smallest inspect accepts)."""
    rng = np.random.default_rng(1)
    for i in range(n):
        mask = np.zeros((8, 8, 8), np.uint8)
        mask[2:6, 2:6, 2:6] = 1
        _nii(root / "images" / f"v{i}.nii.gz", (mask * 100 + rng.normal(0, 5, mask.shape)).astype(np.float32))
        _nii(root / "masks" / f"v{i}.nii.gz", mask)
    return root


def _dicom_series(folder: Path, vol: np.ndarray, prefix: str) -> str:
    """``vol`` (Z, Y, X) int16 as one DICOM file per slice, axial, 1 mm apart."""
    pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series, study = generate_uid(), generate_uid()
    for k in range(vol.shape[0]):
        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
        fm.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = fm
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, fm.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.Modality, ds.InstanceNumber = "Test", "T", "MR", k + 1
        ds.ImagePositionPatient = [0, 0, float(k)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [1, 1], 1
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = vol[k].astype("<i2").tobytes()
        ds.save_as(folder / f"{prefix}{k:03d}.dcm", enforce_file_format=True)
    return series


def _skip_if_readable(path: Path) -> None:
    if os.access(path, os.R_OK):
        pytest.skip("permissions do not restrict this user (running as root): nothing to test")


# --- dataset cases: inspect and train ----------------------------------------------------------


@dataclass
class Expect:
    """What the CLI must say: one ``error:`` line per (path, phrase); ``path=None`` names no file."""

    lines: list[tuple[Path | None, str]]
    extra_args: list[str] = field(default_factory=list)


def _base(tmp: Path) -> Path:
    return write_dataset(tmp / "data", {"train": 3, "val": 2})


def _img(root: Path, stem: str = "c00", split: str = "train") -> Path:
    return root / split / "images" / f"{stem}.png"


def _msk(root: Path, stem: str = "c00", split: str = "train") -> Path:
    return root / split / "masks" / f"{stem}.png"


def truncated_png(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    return root, Expect([(_truncate(_img(root)), "not a readable image")])


def truncated_jpeg(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    jpg = _replace(_img(root), _img(root).with_suffix(".jpg"), disc_pair(np.random.default_rng(5))[0])
    return root, Expect([(_truncate(jpg), "not a readable image")])


def truncated_tiff(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    tif = _replace(_img(root), _img(root).with_suffix(".tif"), disc_pair(np.random.default_rng(5))[0])
    return root, Expect([(_truncate(tif, 0.3), "cannot read TIFF")])


def truncated_nifti(tmp: Path) -> tuple[Path, Expect]:
    root = _volume_dataset(tmp / "data")
    return root, Expect([(_truncate(root / "images" / "v0.nii.gz"), "truncated")])


def text_named_png(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _img(root).write_text("this is a text file, not an image\n")
    return root, Expect([(_img(root), "not a readable image")])


def empty_image(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _img(root).write_bytes(b"")
    return root, Expect([(_img(root), "file is empty (0 bytes)")])


def empty_mask(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _msk(root).write_bytes(b"")
    return root, Expect([(_msk(root), "file is empty (0 bytes)")])


def image_without_mask(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    lone = _png(_img(root, "lonely"), disc_pair(np.random.default_rng(2))[0])
    return root, Expect([(lone, "no mask for this image")])


def mask_without_image(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    orphan = _png(_msk(root, "orphan"), disc_pair(np.random.default_rng(2))[1])
    return root, Expect([(orphan, "mask has no matching image")])


def size_mismatch(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _png(_msk(root), np.zeros((16, 12), np.uint8))
    return root, Expect([(_msk(root), "mask size 16x12 does not match its image c00.png (16x16)")])


def labels_outside_declared(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 2
    _png(_msk(root), mask)
    return root, Expect([(_msk(root), "mask value(s) [2] outside the declared labels [0, 1]")],
                        ["--labels", "0,1"])


def labels_outside_dataset_json(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    (root / "dataset.json").write_text('{"classes": {"0": "background", "1": "disc"}}')
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 7
    _png(_msk(root, split="val"), mask)
    return root, Expect([(_msk(root, split="val"), "mask value(s) [7] outside the declared labels")])


def invalid_dataset_json(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    (root / "dataset.json").write_text('{"classes": {"0": "background", ')
    return root, Expect([(root / "dataset.json", "not valid JSON")])


def negative_mask_values(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    mask = np.zeros((16, 16), np.int16)
    mask[3:6, 3:6] = -1
    tif = _replace(_msk(root), _msk(root).with_suffix(".tif"), mask)
    return root, Expect([(tif, "mask holds negative values (min -1); labels must be >= 0")])


def float_mask(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    mask = np.zeros((16, 16), np.float32)
    mask[3:6, 3:6] = 0.5
    tif = _replace(_msk(root), _msk(root).with_suffix(".tif"), mask)
    return root, Expect([(tif, "mask holds non-integer values (float dtype float32)")])


def nan_in_float_tiff_image(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    img = np.ones((16, 16), np.float32)
    img[5, 5] = np.nan
    tif = _replace(_img(root), _img(root).with_suffix(".tif"), img)
    return root, Expect([(tif, "image contains NaN or Inf values")])


def inf_in_nifti_image(tmp: Path) -> tuple[Path, Expect]:
    root = _volume_dataset(tmp / "data")
    vol = np.ones((8, 8, 8), np.float32)
    vol[1, 2, 3] = np.inf
    _nii(root / "images" / "v1.nii.gz", vol)
    return root, Expect([(root / "images" / "v1.nii.gz", "file contains 1 NaN or Inf voxels")])


def nan_in_nifti_mask(tmp: Path) -> tuple[Path, Expect]:
    root = _volume_dataset(tmp / "data")
    vol = np.zeros((8, 8, 8), np.float32)
    vol[0, 0, 0] = np.nan
    _nii(root / "masks" / "v2.nii.gz", vol)
    return root, Expect([(root / "masks" / "v2.nii.gz", "NaN or Inf")])


def one_pixel_image(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _png(_img(root), np.full((1, 1), 200, np.uint8))
    _png(_msk(root), np.ones((1, 1), np.uint8))
    return root, Expect([(_img(root), "image is 1x1 pixels; at least 8 per side is needed")])


def mask_with_300_labels(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _png(_img(root), np.full((20, 15), 100, np.uint8))
    _png(_msk(root), np.arange(300, dtype=np.uint16).reshape(20, 15))
    return root, Expect([(_msk(root), "mask holds 300 distinct values up to 299; at most 255 classes")])


def colour_mask(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[2:6, 2:6] = (255, 0, 0)
    _png(_msk(root), rgb)
    return root, Expect([(_msk(root), "mask is a colour image with differing channels")])


def multipage_tiff(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _img(root).unlink()
    tif = _img(root).with_suffix(".tif")
    tifffile.imwrite(tif, np.zeros((3, 16, 16), np.uint16) + 9, photometric="minisblack")
    return root, Expect([(tif, "multi-page TIFF with 3 pages is not supported")])


def mixed_channel_counts(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    grey = np.asarray(Image.open(_img(root)))
    _png(_img(root), np.stack([grey, grey, grey], axis=-1))
    return root, Expect([(root, "images have different channel counts")])


def empty_split(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    for d in ("images", "masks"):
        shutil.rmtree(root / "val" / d)
        (root / "val" / d).mkdir()
    return root, Expect([(root / "val" / "images", "split 'val' has no image/mask pairs")])


def missing_masks_folder(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    shutil.rmtree(root / "val" / "masks")
    return root, Expect([(root / "val" / "masks", "folder missing; split 'val' needs images/ and masks/")])


def root_missing(tmp: Path) -> tuple[Path, Expect]:
    root = tmp / "no-such-dataset"
    return root, Expect([(root, "dataset folder does not exist")])


def root_is_file(tmp: Path) -> tuple[Path, Expect]:
    root = tmp / "data.zip"
    root.write_bytes(b"PK\x03\x04 not really a zip")
    return root, Expect([(root, "is a file, expected a dataset folder")])


def root_without_layout(tmp: Path) -> tuple[Path, Expect]:
    root = tmp / "data"
    _png(root / "scans" / "a.png", np.zeros((16, 16), np.uint8))
    return root, Expect([(root, "no dataset layout found")])


def unreadable_file(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    _img(root).chmod(0)
    _skip_if_readable(_img(root))
    return root, Expect([(_img(root), "Permission denied")])


def unreadable_folder(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    (root / "val" / "masks").chmod(0)
    _skip_if_readable(root / "val" / "masks")
    return root, Expect([(root / "val" / "masks", "folder is not readable (permission denied)")])


def duplicate_stems(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    tif = root / "train" / "images" / "c01.tif"
    tifffile.imwrite(tif, np.asarray(Image.open(_img(root, "c01"))))
    return root, Expect([(tif, "duplicate case name 'c01' (also c01.png); keep one file per case")])


def symlink_loop(tmp: Path) -> tuple[Path, Expect]:
    root = _base(tmp)
    loop = root / "train" / "images" / "loop.png"
    loop.symlink_to(loop.name)
    return root, Expect([(loop, "broken or looping symbolic link")])


def dicom_two_series(tmp: Path) -> tuple[Path, Expect]:
    root = _volume_dataset(tmp / "data")
    vol = np.random.default_rng(0).integers(0, 500, (8, 8, 8)).astype(np.int16)
    series = root / "images" / "pat"
    _dicom_series(series, vol, "a")
    _dicom_series(series, vol[:4], "b")
    _nii(root / "masks" / "pat.nii.gz", np.zeros((8, 8, 8), np.uint8))
    return root, Expect([(series, "folder holds 2 DICOM series")])


DATASET_CASES: list[Callable[[Path], tuple[Path, Expect]]] = [
    truncated_png, truncated_jpeg, truncated_tiff, truncated_nifti, text_named_png, empty_image,
    empty_mask, image_without_mask, mask_without_image, size_mismatch, labels_outside_declared,
    labels_outside_dataset_json, invalid_dataset_json, negative_mask_values, float_mask,
    nan_in_float_tiff_image, inf_in_nifti_image, nan_in_nifti_mask, one_pixel_image,
    mask_with_300_labels, colour_mask, multipage_tiff, mixed_channel_counts, empty_split,
    missing_masks_folder, root_missing, root_is_file, root_without_layout, unreadable_file,
    unreadable_folder, duplicate_stems, symlink_loop, dicom_two_series,
]


def _assert_refused(res: CliResult, expect: Expect, out: Path | None) -> None:
    assert res.code == 2, (res.code, res.err)
    assert "Traceback" not in res.err
    lines = res.error_lines
    assert len(lines) == len(expect.lines), lines
    for path, phrase in expect.lines:
        hits = [ln for ln in lines if phrase in ln and (path is None or f"{path}" in ln)]
        assert hits, f"no error line names {path} with {phrase!r}: {lines}"
    if out is not None:  # never created: validation comes before the first write
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))


@pytest.mark.parametrize("build", DATASET_CASES, ids=[f.__name__ for f in DATASET_CASES])
def test_bad_dataset_is_refused_by_inspect_and_train(
    build: Callable[[Path], tuple[Path, Expect]], tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    root, expect = build(tmp_path)
    _assert_refused(cli(["inspect", root, *expect.extra_args]), expect, None)
    out = tmp_path / "run"
    _assert_refused(cli(tiny_train_args(root, out, *expect.extra_args)), expect, out)


def test_unreadable_inputs_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    cli: Callable[..., CliResult]) -> None:
    """The two permission cases for a user whom permissions do not stop (root in CI): the
    operating system's refusal is simulated where medunet meets it."""
    root = _base(tmp_path)
    locked_dir, locked_file = root / "val" / "masks", _img(root)
    real_access, real_open = os.access, Image.open

    def access(path: object, mode: int, **kwargs: object) -> bool:
        return False if Path(str(path)) == locked_dir else real_access(path, mode, **kwargs)

    def open_image(fp: object, *args: object, **kwargs: object) -> Image.Image:
        if Path(str(fp)) == locked_file:
            raise PermissionError(errno.EACCES, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(Image, "open", open_image)
    expect = Expect([(locked_file, "not a readable image ([Errno 13] Permission denied"),
                     (locked_dir, "folder is not readable (permission denied); fix its permissions")])
    _assert_refused(cli(["inspect", root]), expect, None)
    _assert_refused(cli(tiny_train_args(root, tmp_path / "run")), expect, tmp_path / "run")


# --- command cases: train options, predict, evaluate -------------------------------------------


@dataclass
class Command:
    argv: list[str]
    expect: Expect
    out: Path | None


def _run_copy(run: Path, tmp: Path) -> Path:
    copy = tmp / "run"
    shutil.copytree(run, copy)
    return copy


def set_unknown_key(tmp: Path, data: Path, run: Path) -> Command:
    out = tmp / "out"
    return Command(tiny_train_args(data, out, "--set", "train.nope=1"),
                   Expect([(None, "--set train.nope: unknown config key 'nope'")]), out)


def set_bad_value(tmp: Path, data: Path, run: Path) -> Command:
    out = tmp / "out"
    return Command(tiny_train_args(data, out, "--set", "train.batch_size=0"),
                   Expect([(None, "train.batch_size must be >= 1, got 0")]), out)


def labels_not_integers(tmp: Path, data: Path, run: Path) -> Command:
    out = tmp / "out"
    return Command(tiny_train_args(data, out, "--labels", "a,b"),
                   Expect([(None, "--labels: expected comma-separated integers like 0,1,2, got 'a,b'")]),
                   out)


def resume_without_run(tmp: Path, data: Path, run: Path) -> Command:
    out = tmp / "out"
    return Command(tiny_train_args(data, out, "--resume"),
                   Expect([(out / "last.pt", "nothing to resume")]), out)


def predict_missing_run(tmp: Path, data: Path, run: Path) -> Command:
    out = tmp / "out"
    return Command(["predict", tmp / "no-run", data / "test" / "images", "--out", out],
                   Expect([(tmp / "no-run", "run folder not found")]), out)


def predict_corrupt_checkpoint(tmp: Path, data: Path, run: Path) -> Command:
    bad = _run_copy(run, tmp)
    _truncate(bad / "best.pt", 0.4)
    out = tmp / "out"
    return Command(["predict", bad, data / "test" / "images", "--out", out],
                   Expect([(bad / "best.pt", "refused to load checkpoint")]), out)


def predict_pickle_checkpoint(tmp: Path, data: Path, run: Path) -> Command:
    evil = tmp / "evil"
    evil.mkdir()
    torch.save({"format": FORMAT, "version": VERSION, "model": PicklePayload(tmp / "pwned")}, evil / "best.pt")
    out = tmp / "out"
    return Command(["predict", evil, data / "test" / "images", "--out", out],
                   Expect([(evil / "best.pt", "refused to load checkpoint (not plain data")]), out)


def predict_channel_mismatch(tmp: Path, data: Path, run: Path) -> Command:
    rgb = _png(tmp / "in" / "rgb.png", np.zeros((16, 16, 3), np.uint8) + 80)
    _png(tmp / "in" / "grey.png", np.zeros((16, 16), np.uint8) + 80)
    out = tmp / "out"
    return Command(["predict", run, tmp / "in", "--out", out, "--device", "cpu"],
                   Expect([(rgb, "image has 3 channel(s); this model expects 1")]), out)


def predict_wrong_dimensionality(tmp: Path, data: Path, run: Path) -> Command:
    vol = _nii(tmp / "in" / "vol.nii.gz", np.ones((8, 8, 8), np.float32))
    out = tmp / "out"
    return Command(["predict", run, vol, "--out", out, "--device", "cpu"],
                   Expect([(vol, "image is 3D (shape (8, 8, 8)); this model was trained on 2D data")]), out)


def predict_corrupt_inputs(tmp: Path, data: Path, run: Path) -> Command:
    rng = np.random.default_rng(3)
    _png(tmp / "in" / "a_good.png", disc_pair(rng)[0])
    bad1 = _truncate(_png(tmp / "in" / "b_bad.png", disc_pair(rng)[0]))
    bad2 = tmp / "in" / "c_text.tif"
    bad2.write_text("not a tiff")
    out = tmp / "out"
    return Command(["predict", run, tmp / "in", "--out", out, "--device", "cpu"],
                   Expect([(bad1, "not a readable image"), (bad2, "cannot read TIFF")]), out)


def predict_missing_input(tmp: Path, data: Path, run: Path) -> Command:
    out = tmp / "out"
    return Command(["predict", run, tmp / "nothing", "--out", out],
                   Expect([(tmp / "nothing", "input does not exist")]), out)


def predict_empty_folder(tmp: Path, data: Path, run: Path) -> Command:
    (tmp / "empty").mkdir()
    out = tmp / "out"
    return Command(["predict", run, tmp / "empty", "--out", out],
                   Expect([(tmp / "empty", "folder holds no images")]), out)


def predict_unsupported_file(tmp: Path, data: Path, run: Path) -> Command:
    notes = tmp / "in" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("hello")
    _png(tmp / "in" / "ok.png", np.zeros((16, 16), np.uint8))
    out = tmp / "out"
    return Command(["predict", run, tmp / "in", "--out", out],
                   Expect([(notes, "unsupported file type '.txt'")]), out)


def _mask_dirs(tmp: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    for i in range(3):
        m = disc_pair(rng)[1]
        _png(tmp / "ref" / f"m{i}.png", m)
        _png(tmp / "pred" / f"m{i}.png", m)
    return tmp / "pred", tmp / "ref"


def evaluate_unpaired_prediction(tmp: Path, data: Path, run: Path) -> Command:
    pred, ref = _mask_dirs(tmp)
    extra = _png(pred / "stray.png", np.zeros((16, 16), np.uint8))
    (ref / "m2.png").rename(ref / "m9.png")
    out = tmp / "report"
    return Command(["evaluate", pred, ref, "--out", out],
                   Expect([(extra, "prediction has no reference mask"),
                           (pred / "m2.png", "prediction has no reference mask"),
                           (ref / "m9.png", "no prediction for this reference")]), out)


def evaluate_size_mismatch(tmp: Path, data: Path, run: Path) -> Command:
    pred, ref = _mask_dirs(tmp)
    _png(pred / "m1.png", np.zeros((12, 16), np.uint8))
    out = tmp / "report"
    return Command(["evaluate", pred, ref, "--out", out],
                   Expect([(pred / "m1.png", "prediction size (12, 16) does not match reference")]), out)


def evaluate_corrupt_prediction(tmp: Path, data: Path, run: Path) -> Command:
    pred, ref = _mask_dirs(tmp)
    _truncate(pred / "m0.png")
    out = tmp / "report"
    return Command(["evaluate", pred, ref, "--out", out],
                   Expect([(pred / "m0.png", "not a readable image")]), out)


def evaluate_missing_folder(tmp: Path, data: Path, run: Path) -> Command:
    _, ref = _mask_dirs(tmp)
    out = tmp / "report"
    return Command(["evaluate", tmp / "nope", ref, "--out", out],
                   Expect([(tmp / "nope", "folder does not exist")]), out)


def evaluate_run_on_bad_data(tmp: Path, data: Path, run: Path) -> Command:
    root = write_dataset(tmp / "data", {"test": 2})
    _truncate(_img(root, "c01", "test"))
    out = tmp / "report"
    return Command(["evaluate", run, "--data", root, "--split", "test", "--out", out, "--device", "cpu"],
                   Expect([(_img(root, "c01", "test"), "not a readable image")]), out)


def evaluate_run_missing_split(tmp: Path, data: Path, run: Path) -> Command:
    root = write_dataset(tmp / "data", {"test": 2})
    out = tmp / "report"
    return Command(["evaluate", run, "--data", root, "--split", "val", "--out", out],
                   Expect([(root, "no 'val' split (found: test)")]), out)


COMMAND_CASES: list[Callable[[Path, Path, Path], Command]] = [
    set_unknown_key, set_bad_value, labels_not_integers,
    resume_without_run, predict_missing_run, predict_corrupt_checkpoint, predict_pickle_checkpoint,
    predict_channel_mismatch, predict_wrong_dimensionality, predict_corrupt_inputs,
    predict_missing_input, predict_empty_folder, predict_unsupported_file,
    evaluate_unpaired_prediction, evaluate_size_mismatch, evaluate_corrupt_prediction,
    evaluate_missing_folder, evaluate_run_on_bad_data, evaluate_run_missing_split,
]


@pytest.mark.parametrize("build", COMMAND_CASES, ids=[f.__name__ for f in COMMAND_CASES])
def test_bad_command_input_is_refused(build: Callable[[Path, Path, Path], Command], tmp_path: Path,
                                      tiny_data: Path, tiny_run: Path,
                                      cli: Callable[..., CliResult]) -> None:
    cmd = build(tmp_path, tiny_data, tiny_run)
    _assert_refused(cli(cmd.argv), cmd.expect, cmd.out)
    assert not (tmp_path / "pwned").exists()  # the pickle payload never ran


def test_corpus_is_large_and_distinct() -> None:
    names = [f.__name__ for f in DATASET_CASES] + [f.__name__ for f in COMMAND_CASES]
    assert len(names) == len(set(names)) >= 25
