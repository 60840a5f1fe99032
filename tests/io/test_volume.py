"""Volumes: NIfTI/NRRD/MetaImage round trips with oblique geometry, DICOM series, corrupt files."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medunet.cli import main
from medunet.data.cases import discover_cases, list_images
from medunet.io import (
    ImageMeta,
    case_stem,
    geometry_difference,
    mask_output_name,
    read_image,
    read_mask,
    read_volume,
    write_mask,
    write_volume,
)

SHAPE = (5, 6, 7)  # (Z, Y, X), all different so that a swapped axis shows
SPACING = (0.7, 0.9, 2.5)  # (x, y, z) mm
ORIGIN = (-12.5, 30.25, 7.0)  # LPS mm
FORMATS = [".nii", ".nii.gz", ".nrrd", ".mha", ".mhd"]


def _rot(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


DIRECTION = _rot(2, 20) @ _rot(0, 20)  # oblique: 20 degrees about z and about x


def _volume(seed: int = 0, dtype: type = np.int16) -> np.ndarray:
    return np.random.default_rng(seed).integers(-500, 1500, SHAPE).astype(dtype)


def _write_sitk(arr: np.ndarray, path: Path) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN)
    img.SetDirection(DIRECTION.ravel().tolist())
    sitk.WriteImage(img, str(path))
    return path


def _assert_geometry(meta: ImageMeta, spacing: Sequence[float], origin: Sequence[float],
                     direction: np.ndarray, tol: float) -> None:
    np.testing.assert_allclose(meta.spacing, spacing, atol=tol, rtol=0)
    np.testing.assert_allclose(meta.origin, origin, atol=tol, rtol=0)
    np.testing.assert_allclose(np.reshape(meta.direction, (3, 3)), direction, atol=tol, rtol=0)


# --- round trips, format by format ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_keeps_values_and_oblique_geometry(tmp_path: Path, suffix: str) -> None:
    a = _volume()
    src = _write_sitk(a, tmp_path / f"in{suffix}")
    arr, meta = read_volume(src)
    assert arr.shape == SHAPE and meta.shape == SHAPE and arr.dtype == np.int16
    assert np.array_equal(arr, a) and meta.mode == "volume" and meta.channels == 1
    _assert_geometry(meta, SPACING, ORIGIN, DIRECTION, 1e-6)

    out = write_volume(arr, meta, tmp_path / "out" / f"copy{suffix}")
    arr2, meta2 = read_volume(out)
    assert np.array_equal(arr2, a) and arr2.dtype == np.int16
    _assert_geometry(meta2, meta.spacing, meta.origin, np.reshape(meta.direction, (3, 3)), 1e-6)
    assert not [f for f in out.parent.iterdir() if f.name.startswith(".tmp-")]


@pytest.mark.parametrize("suffix", FORMATS)
def test_mask_round_trip_through_public_api(tmp_path: Path, suffix: str) -> None:
    src = _write_sitk(_volume(), tmp_path / f"img{suffix}")
    image, meta = read_image(src)
    assert image.shape == (1, *SHAPE) and image.dtype == np.float32
    labels = (image[0] > 500).astype(np.int64) + (image[0] > 1000)
    out = write_mask(labels, meta, tmp_path / mask_output_name(meta, "pred"))
    back, mmeta = read_mask(out)
    assert back.dtype == np.int64 and np.array_equal(back, labels)
    assert geometry_difference(meta, mmeta, rtol=1e-6) is None
    assert mmeta.dtype == "uint8"


def test_mhd_writes_header_and_data_atomically(tmp_path: Path) -> None:
    src = _write_sitk(_volume(), tmp_path / "in.mha")
    arr, meta = read_volume(src)
    out = write_volume(arr, meta, tmp_path / "o" / "x.mhd")
    names = sorted(f.name for f in out.parent.iterdir())
    assert names[0] == "x.mhd" and names[1].startswith("x.") and len(names) == 2  # x.raw or x.zraw
    assert names[1] in (out.read_text().split("ElementDataFile = ")[1].strip(),)
    write_volume(arr + 1, meta, out)  # overwrite in place
    assert np.array_equal(read_volume(out)[0], arr + 1)
    assert mask_output_name(meta.__class__(**{**meta.__dict__, "path": out})) == "x.mha"


def test_nifti_affine_agrees_with_nibabel(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    ras = np.diag([-1.0, -1.0, 1.0]) @ DIRECTION  # an oblique RAS affine written by nibabel
    affine = np.eye(4)
    affine[:3, :3] = ras * np.asarray(SPACING)
    affine[:3, 3] = (14.0, -3.5, 22.0)
    data = _volume().transpose(2, 1, 0)  # nibabel's (x, y, z) array
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "img.nii.gz")
    in_affine = nib.load(tmp_path / "img.nii.gz").affine

    image, meta = read_image(tmp_path / "img.nii.gz")
    assert np.array_equal(image[0], data.transpose(2, 1, 0))  # array[k, j, i] == nibabel[i, j, k]
    np.testing.assert_allclose(meta.ras_affine, in_affine, atol=1e-6, rtol=0)
    np.testing.assert_allclose(meta.spacing, SPACING, atol=1e-6)
    out = write_mask((image[0] > 0).astype(np.uint8), meta, tmp_path / "pred.nii.gz")
    written = nib.load(out)
    np.testing.assert_allclose(written.affine, in_affine, atol=1e-6, rtol=0)
    assert np.array_equal(np.asarray(written.dataobj), (data > 0).astype(np.uint8))


def test_4d_and_vector_files_become_channels(tmp_path: Path) -> None:
    nib = pytest.importorskip("nibabel")
    data = np.random.default_rng(2).random((7, 6, 5, 3)).astype(np.float32)  # (x, y, z, c)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / "four.nii.gz")
    image, meta = read_image(tmp_path / "four.nii.gz")
    assert image.shape == (3, 5, 6, 7) and meta.shape == (5, 6, 7) and meta.channels == 3
    assert np.array_equal(image, data.transpose(3, 2, 1, 0))
    np.testing.assert_allclose(meta.spacing, (2.0, 3.0, 4.0))
    out = write_volume(image, meta, tmp_path / "vec.nrrd")  # (C, *S) -> a vector image
    again, meta2 = read_image(out)
    assert np.array_equal(again, image) and meta2.channels == 3
    with pytest.raises(ValueError, match="single-channel"):
        read_mask(out)


def test_nan_in_image_is_refused_naming_the_file(tmp_path: Path) -> None:
    a = _volume(dtype=np.float32)
    a[2, 3, 4] = np.nan
    src = _write_sitk(a, tmp_path / "nan.nii.gz")
    with pytest.raises(ValueError, match=r"nan\.nii\.gz.*NaN or Inf"):
        read_image(src)


def test_write_refuses_wrong_shape_and_dicom_output(tmp_path: Path) -> None:
    arr, meta = read_volume(_write_sitk(_volume(), tmp_path / "a.mha"))
    with pytest.raises(ValueError, match="does not match"):
        write_volume(arr[:-1], meta, tmp_path / "b.mha")
    with pytest.raises(ValueError, match=r"\.nii\.gz"):
        write_volume(arr, meta, tmp_path / "series")
    with pytest.raises(ValueError, match="3D mask"):
        write_mask(np.zeros(SHAPE, np.int64), meta, tmp_path / "b.png")


# --- corrupt inputs ---------------------------------------------------------------------------------


def _truncated_gz(p: Path) -> Path:
    good = _write_sitk(_volume(), p.with_name("good.nii.gz")).read_bytes()
    p.write_bytes(good[: len(good) // 2])
    return p


def _truncated_nii(p: Path) -> Path:
    good = _write_sitk(_volume(), p.with_name("good.nii")).read_bytes()
    p.write_bytes(good[:-100])
    return p


def _truncated_mha(p: Path) -> Path:
    good = _write_sitk(_volume(), p.with_name("good.mha")).read_bytes()
    p.write_bytes(good[:-100])
    return p


def _gzipped_text(p: Path) -> Path:
    p.write_bytes(gzip.compress(b"not an image at all" * 30))
    return p


@pytest.mark.parametrize("name, make", [
    ("trunc.nii.gz", _truncated_gz),
    ("trunc.nii", _truncated_nii),
    ("trunc.mha", _truncated_mha),
    ("empty.nii.gz", lambda p: (p.write_bytes(b""), p)[1]),
    ("text.nii.gz", lambda p: (p.write_text("hello, I am a text file"), p)[1]),
    ("gztext.nii.gz", _gzipped_text),
    ("text.nrrd", lambda p: (p.write_text("hello"), p)[1]),
])
def test_corrupt_files_raise_one_line_value_error_naming_the_file(
    tmp_path: Path, name: str, make: object
) -> None:
    path = make(tmp_path / name)  # type: ignore[operator]
    for reader in (read_image, read_mask):
        with pytest.raises(ValueError) as exc:
            reader(path)
        assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


def test_missing_file_or_folder_and_single_slice(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        read_volume(tmp_path / "missing.nii.gz")
    with pytest.raises(FileNotFoundError, match="1.2.840"):
        read_image(tmp_path / "1.2.840")
    (tmp_path / "x.dcm").write_bytes(b"\0" * 200)
    with pytest.raises(ValueError, match="pass the folder"):
        read_image(tmp_path / "x.dcm")


# --- DICOM ------------------------------------------------------------------------------------------


def write_dicom_series(folder: Path, vol: np.ndarray, spacing: Sequence[float], origin: Sequence[float],
                       direction: np.ndarray, series_uid: str | None = None, prefix: str = "") -> str:
    """Write ``vol`` (Z, Y, X) int16 as one DICOM file per slice, in shuffled file order."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    row_cos, col_cos, normal = direction[:, 0], direction[:, 1], direction[:, 2]
    order = np.random.default_rng(0).permutation(vol.shape[0])
    for k in range(vol.shape[0]):
        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID = MRImageStorage
        fm.MediaStorageSOPInstanceUID = generate_uid()
        fm.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = fm
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, fm.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.PatientName, ds.PatientID, ds.Modality = "Test^Volume", "T1", "MR"
        ds.InstanceNumber = k + 1
        pos = np.asarray(origin) + k * spacing[2] * normal
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[0]:g}"]  # row spacing (y), column spacing (x)
        ds.SliceThickness = f"{spacing[2]:g}"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = vol[k].astype("<i2").tobytes()
        ds.save_as(folder / f"{prefix}slice{order[k]:03d}.dcm", enforce_file_format=True)
    assert pydicom is not None
    return series_uid


def test_dicom_series_geometry_and_prediction_as_nifti(tmp_path: Path) -> None:
    vol = _volume(3)
    write_dicom_series(tmp_path / "series.1.2", vol, SPACING, ORIGIN, DIRECTION)
    arr, meta = read_volume(tmp_path / "series.1.2")
    assert np.array_equal(arr, vol)  # slices sorted by position, not by file name
    _assert_geometry(meta, SPACING, ORIGIN, DIRECTION, 1e-4)
    assert meta.extra["format"] == "dicom" and meta.extra["files"] == str(SHAPE[0])

    image, imeta = read_image(tmp_path / "series.1.2")
    assert image.shape == (1, *SHAPE)
    assert case_stem(imeta.path) == "series.1.2"
    name = mask_output_name(imeta)
    assert name == "series.1.2.nii.gz"
    out = write_mask((vol > 0).astype(np.int64), imeta, tmp_path / "pred" / name)
    back, bmeta = read_mask(out)
    assert np.array_equal(back, vol > 0)
    _assert_geometry(bmeta, meta.spacing, meta.origin, np.reshape(meta.direction, (3, 3)), 1e-6)
    nib = pytest.importorskip("nibabel")
    np.testing.assert_allclose(nib.load(out).affine, imeta.ras_affine, atol=1e-4)


def test_folder_with_two_series_names_both(tmp_path: Path) -> None:
    a = write_dicom_series(tmp_path / "mixed", _volume(), SPACING, ORIGIN, DIRECTION, prefix="a")
    b = write_dicom_series(tmp_path / "mixed", _volume(1)[:3], SPACING, ORIGIN, DIRECTION, prefix="b")
    with pytest.raises(ValueError) as exc:
        read_image(tmp_path / "mixed")
    msg = str(exc.value)
    assert a in msg and b in msg and "5 files" in msg and "3 files" in msg
    assert "one series per folder" in msg and "\n" not in msg


def test_series_with_a_missing_slice_is_refused(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    write_dicom_series(tmp_path / "gap", _volume(), SPACING, ORIGIN, DIRECTION)
    for f in (tmp_path / "gap").iterdir():
        if pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber == 3:
            f.unlink()
    with pytest.raises(ValueError, match="not evenly spaced"):
        read_volume(tmp_path / "gap")


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no DICOM series found"):
        read_image(tmp_path / "notes")


def test_dicom_series_as_dataset_case_and_prediction_input(tmp_path: Path) -> None:
    vol = np.tile(_volume(4), (2, 2, 2))  # at least 8 voxels per side for inspect
    root = tmp_path / "data"
    write_dicom_series(root / "images" / "pat1", vol, SPACING, ORIGIN, DIRECTION)
    _, meta = read_volume(root / "images" / "pat1")
    write_mask((vol > 0).astype(np.int64), meta, root / "masks" / "pat1.nii.gz")
    cases, problems = discover_cases(root)
    assert problems == [] and [c.case_id for c in cases["all"]] == ["pat1"]
    assert list_images(root / "images" / "pat1") == [root / "images" / "pat1"]
    assert list_images(root) == [root / "images" / "pat1"]
    assert main(["inspect", str(root)]) == 0


# --- the sample 3D datasets -------------------------------------------------------------------------


def test_brain_tumor_mr3d_lps_and_thick_slices(shared_data: Path) -> None:
    root = shared_data / "brain_tumor_mr3d" / "train"
    image, meta = read_image(root / "images" / "brain1.nii.gz")
    mask, mmeta = read_mask(root / "masks" / "brain1.nii.gz")
    assert image.shape == (1, 25, 256, 256) and mask.shape == meta.shape == (25, 256, 256)
    np.testing.assert_allclose(meta.spacing, (0.78, 0.78, 6.5), atol=0.005)  # (x, y, z)
    assert geometry_difference(meta, mmeta) is None
    assert set(np.unique(mask)) == {0, 1}
    np.testing.assert_allclose(np.reshape(meta.direction, (3, 3)), np.eye(3), atol=1e-6)  # L, P, S axes


def test_inspect_mni152_tissue3d(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(shared_data / "mni152_tissue3d")]) == 0
    out = capsys.readouterr().out
    assert "233x197" in out and "1x1x1" in out
