"""Property-based tests (hypothesis): the readers never fail with anything but ``ValueError``,
pairing never gives a mask to two images and every problem names a file, and the metrics keep
their bounds, symmetries and agreement with scikit-learn.

(Pad/crop/tiling arithmetic: ``tests/inference/test_sliding.py``.)
"""

from __future__ import annotations

import gzip
import io
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from medunet.data.cases import CHANNEL_STEM, Problem, pair_masks
from medunet.io import case_stem, read_image, read_mask
from medunet.metrics import case_metrics, confusion_matrix, pixel_metrics

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- readers -----------------------------------------------------------------------------------


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(buf, format="PNG")
    return buf.getvalue()


def _tiff_bytes() -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
    return buf.getvalue()


def _nifti_bytes(tmp: Path) -> bytes:
    """An uncompressed NIfTI-1 file (mutated, then gzipped, to reach the header checks)."""
    path = tmp / "seed.nii"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(64, dtype=np.float32).reshape(4, 4, 4)), str(path))
    return path.read_bytes()


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes replaced, inserted or cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        op = draw(st.sampled_from(["set", "set", "insert", "truncate"]))
        if op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _read_both(path: Path) -> None:
    """Read as image and as mask: each either works (sane output) or raises ValueError."""
    try:
        img, meta = read_image(path)
        assert img.dtype == np.float32 and np.isfinite(img).all()
        assert img.shape[1:] == tuple(meta.shape)
    except ValueError as exc:
        assert str(exc), "an error must say something"
    try:
        mask, _ = read_mask(path)
        assert mask.dtype == np.int64 and (mask.size == 0 or mask.min() >= 0)
    except ValueError:
        pass


SEEDS = {".png": _png_bytes(), ".tif": _tiff_bytes()}


@FUZZ
@given(suffix=st.sampled_from([".png", ".tif", ".nii.gz"]), data=st.binary(max_size=1024))
def test_random_bytes_read_or_raise_value_error(fuzz_dir: Path, suffix: str, data: bytes) -> None:
    path = fuzz_dir / f"random{suffix}"
    path.write_bytes(data)
    _read_both(path)


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".png", ".tif"]))
def test_mutated_rasters_read_or_raise_value_error(fuzz_dir: Path, data: st.DataObject, suffix: str) -> None:
    path = fuzz_dir / f"mutated{suffix}"
    path.write_bytes(data.draw(_mutated(SEEDS[suffix])))
    _read_both(path)


@FUZZ
@given(data=st.data(), compress=st.booleans())
def test_mutated_nifti_reads_or_raises_value_error(fuzz_dir: Path, data: st.DataObject,
                                                   compress: bool) -> None:
    raw = data.draw(_mutated(_nifti_bytes(fuzz_dir)))
    path = fuzz_dir / ("mutated.nii.gz" if compress else "mutated.nii")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    _read_both(path)


#: NIfTI-1 header fields as (offset, struct format): dims, datatype/bitpix, pixdim, vox_offset,
#: scl_slope/inter, qform/sform codes, quatern and srow values
_NIFTI_FIELDS = [(40 + 2 * i, "<h") for i in range(8)] + [(70, "<h"), (72, "<h")] + \
    [(76 + 4 * i, "<f") for i in range(8)] + [(108, "<f"), (112, "<f"), (116, "<f"), (252, "<h"),
                                              (254, "<h")] + [(256 + 4 * i, "<f") for i in range(18)]


@FUZZ
@given(data=st.data())
def test_fuzzed_nifti_header_fields_read_or_raise_value_error(fuzz_dir: Path, data: st.DataObject) -> None:
    raw = bytearray(_nifti_bytes(fuzz_dir))
    for _ in range(data.draw(st.integers(1, 3))):
        offset, fmt = data.draw(st.sampled_from(_NIFTI_FIELDS))
        value = data.draw(st.floats(width=32) if fmt == "<f" else st.integers(-(2**15), 2**15 - 1))
        raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path = fuzz_dir / "header.nii"
    path.write_bytes(bytes(raw))
    _read_both(path)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), -352.0])
def test_nifti_with_a_broken_voxel_offset_is_refused(tmp_path: Path, value: float) -> None:
    """Found by fuzzing: ``int(inf)`` raised OverflowError, ``int(nan)`` an unnamed ValueError."""
    raw = bytearray(_nifti_bytes(tmp_path))
    raw[108:112] = struct.pack("<f", value)
    (tmp_path / "x.nii").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"x\.nii: invalid NIfTI header \(vox_offset"):
        read_image(tmp_path / "x.nii")


@pytest.mark.parametrize("suffix", [".tif", ".nii.gz"])
def test_float_mask_beyond_integer_range_is_refused(tmp_path: Path, suffix: str) -> None:
    """Found by fuzzing: 1e20 cast to int64 silently became a negative number."""
    mask = np.zeros((8, 8, 8) if suffix == ".nii.gz" else (8, 8), np.float32)
    mask[0, 0] = 1e20
    path = tmp_path / f"m{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, mask)
    else:
        sitk.WriteImage(sitk.GetImageFromArray(mask), str(path))
    with pytest.raises(ValueError, match="mask values reach 1e"):
        read_mask(path)


# --- pairing -----------------------------------------------------------------------------------

_STEMS = ["a", "b", "a_mask", "b_seg", "c_0000", "c_0001", "c_0003", "d_0000"]


@FUZZ
@given(images=st.sets(st.tuples(st.sampled_from(_STEMS), st.sampled_from([".png", ".tif"])), max_size=8),
       masks=st.sets(st.tuples(st.sampled_from(["a", "b", "c", "d", "c_0000", "a_mask"]),
                               st.sampled_from(["", "_mask", "_seg"]),
                               st.sampled_from([".png", ".tif"])), max_size=8))
def test_pairing_gives_each_mask_once_and_names_every_problem(
    fuzz_dir: Path, images: set[tuple[str, str]], masks: set[tuple[str, str, str]]
) -> None:
    root = fuzz_dir / "pairing"
    shutil.rmtree(root, ignore_errors=True)
    img_dir, mask_dir = root / "images", root / "masks"
    img_dir.mkdir(parents=True)
    mask_dir.mkdir()
    for stem, ext in images:
        (img_dir / f"{stem}{ext}").touch()
    for stem, suffix, ext in masks:
        (mask_dir / f"{stem}{suffix}{ext}").touch()
    problems: list[Problem] = []
    cases = pair_masks(img_dir, mask_dir, "train", problems)

    used = [c.mask for c in cases]
    assert len(used) == len(set(used)), "a mask was given to two images"
    assert len({c.case_id for c in cases}) == len(cases)
    for c in cases:
        assert c.mask is not None and c.mask.parent == mask_dir
        assert all(f.parent == img_dir for f in c.image_files)
    named = {p.path for p in problems}
    for p in problems:
        assert p.path.exists() and p.path.parent in (root, img_dir, mask_dir), p
        assert p.message and "\n" not in p.message
    in_cases = {f for c in cases for f in c.image_files}
    for f in img_dir.iterdir():
        if CHANNEL_STEM.match(case_stem(f)) is None:  # channel files are named per group
            assert f in in_cases or f in named, f"{f.name} neither paired nor reported"


def test_mask_named_like_another_image_is_not_shared(tmp_path: Path) -> None:
    """Found by fuzzing: images ``a`` and ``a_mask`` both took the mask ``a_mask``."""
    for d, name in (("images", "a.png"), ("images", "a_mask.png"), ("masks", "a_mask.png")):
        (tmp_path / d).mkdir(exist_ok=True)
        (tmp_path / d / name).touch()
    problems: list[Problem] = []
    cases = pair_masks(tmp_path / "images", tmp_path / "masks", "train", problems)
    assert [(c.case_id, c.mask.name if c.mask else None) for c in cases] == [("a_mask", "a_mask.png")]
    assert [(p.path.name, p.message.split(" (")[0]) for p in problems] == [
        ("a.png", f"no mask for this image in {tmp_path / 'masks'}")]


# --- metrics -----------------------------------------------------------------------------------


@st.composite
def _label_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    k = draw(st.integers(2, 5))
    shape = draw(st.sampled_from([(1,), (7,), (3, 4), (5, 5), (2, 3, 4)]))
    labels = arrays(np.int64, shape, elements=st.integers(0, k - 1))
    return draw(labels), draw(labels), k


@FUZZ
@given(_label_pair())
def test_metrics_bounds_symmetry_and_sklearn(pair: tuple[np.ndarray, np.ndarray, int]) -> None:
    ref, pred, k = pair
    cm = confusion_matrix(ref, pred, k)
    assert cm.sum() == ref.size
    assert np.array_equal(cm, confusion_matrix(pred, ref, k).T)
    r, p = ref.ravel(), pred.ravel()
    assert np.array_equal(cm, sk_confusion_matrix(r, p, labels=range(k)))

    m = pixel_metrics(cm)
    assert m["accuracy"] == accuracy_score(r, p)
    prec, rec, f1, _ = precision_recall_fscore_support(r, p, labels=range(k), average=None, zero_division=0)
    for key, sk in (("precision", prec), ("recall", rec), ("f1", f1)):
        assert np.array_equal(np.asarray(m[key]), sk), key
    for key in ("precision", "recall", "f1", "dice", "iou", "specificity"):
        v = np.asarray(m[key])
        assert ((v >= 0) & (v <= 1)).all(), key

    case, swapped = case_metrics(cm), case_metrics(confusion_matrix(pred, ref, k))
    for key in ("dice", "iou"):
        v = np.asarray(case[key])
        assert ((v >= 0) & (v <= 1)).all(), key
        assert np.array_equal(v, np.asarray(swapped[key])), f"{key} is not symmetric"
    assert case["accuracy"] == swapped["accuracy"]
    assert np.array_equal(case["precision"], swapped["recall"])  # precision and recall swap roles


@FUZZ
@given(_label_pair())
def test_perfect_prediction_scores_one(pair: tuple[np.ndarray, np.ndarray, int]) -> None:
    ref, _, k = pair
    case = case_metrics(confusion_matrix(ref, ref, k))
    assert case["accuracy"] == 1.0
    assert (np.asarray(case["dice"]) == 1.0).all() and (np.asarray(case["iou"]) == 1.0).all()
