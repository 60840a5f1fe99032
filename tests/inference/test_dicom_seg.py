"""DICOM-SEG output: frames mapped to source instances by position, decoded back voxel by voxel,
references, segment labels, errors; and the ``.seg.nrrd`` writer for 3D Slicer."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medunet import __version__
from medunet.inference.dicom_seg import read_dicom_seg, write_dicom_seg
from medunet.inference.seg_nrrd import write_seg_nrrd
from medunet.io import read_image, read_mask, read_volume, write_mask

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

SHAPE = (5, 6, 7)  # (Z, Y, X), all different so that a swapped axis shows
SPACING = (0.7, 0.9, 2.5)  # (x, y, z) mm
ORIGIN = (-12.5, 30.25, 7.0)  # LPS mm
NAMES = ["background", "liver", "tumour"]
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def _rot(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


OBLIQUE = _rot(2, 20) @ _rot(0, 20)


def write_series(folder: Path, vol: np.ndarray, direction: np.ndarray, *, step: float = SPACING[2],
                 reverse_numbers: bool = False) -> list[str]:
    """Write ``vol`` (Z, Y, X) as one single-frame MR instance per slice, in shuffled file order.

    Slice ``k`` lies at ``ORIGIN + k * step * direction[:, 2]``; ``reverse_numbers`` numbers the
    instances against that order. Returns the SOP Instance UID of each slice ``k``.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series, study, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    row_cos, col_cos, stack = direction[:, 0], direction[:, 1], direction[:, 2]
    order = np.random.default_rng(0).permutation(vol.shape[0])
    uids = []
    for k in range(vol.shape[0]):
        fm = FileMetaDataset()
        fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
        fm.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = fm
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, fm.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame_of_ref
        ds.PatientName, ds.PatientID, ds.Modality = "Test^Seg", "SEG1", "MR"
        ds.InstanceNumber = vol.shape[0] - k if reverse_numbers else k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in np.asarray(ORIGIN) + k * step * stack]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_cos, *col_cos)]
        ds.PixelSpacing = [f"{SPACING[1]:g}", f"{SPACING[0]:g}"]
        ds.SliceThickness = f"{abs(step):g}"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = vol[k].astype("<i2").tobytes()
        ds.save_as(folder / f"img{order[k]:03d}.dcm", enforce_file_format=True)
        uids.append(str(ds.SOPInstanceUID))
    return uids


def _labels(image: np.ndarray) -> np.ndarray:
    """Two classes from intensities: ``liver`` above 300, ``tumour`` above 1000."""
    return (image > 300).astype(np.int64) + (image > 1000)


def _decode_independently(seg_path: Path, uids: Sequence[str], shape: tuple[int, ...]) -> np.ndarray:
    """The SEG as labels per *written* slice ``k`` (via its SOP Instance UID), with pydicom only."""
    ds = pydicom.dcmread(seg_path)
    frames = ds.pixel_array.reshape(-1, *shape[1:])  # BINARY: bits unpacked to 0/1 per frame
    out = np.zeros(shape, np.int64)
    for item, frame in zip(ds.PerFrameFunctionalGroupsSequence, frames, strict=True):
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        segment = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        k = list(uids).index(uid)
        assert not (out[k][frame > 0]).any(), "segments overlap"
        out[k][frame > 0] = segment
    return out


GEOMETRIES = {
    "oblique": dict(direction=OBLIQUE),
    # instance numbers run against position: sorting by InstanceNumber would reverse the slices
    "numbers reversed": dict(direction=OBLIQUE, reverse_numbers=True),
    # slices stacked against row x column: ITK's array then runs opposite to the writing order
    "stack against normal": dict(direction=np.diag([1.0, 1.0, -1.0]) @ _rot(0, 15)),
}


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_seg_frames_belong_to_their_source_slices(tmp_path: Path, geometry: str) -> None:
    vol = np.random.default_rng(1).integers(-500, 1500, SHAPE).astype(np.int16)
    uids = write_series(tmp_path / "series", vol, **GEOMETRIES[geometry])
    image, meta = read_image(tmp_path / "series")  # the reader's slice order
    label_map = _labels(image[0])
    assert len(np.unique(label_map)) == 3

    out = write_dicom_seg(label_map, tmp_path / "series", tmp_path / "pred" / "case.dcm", NAMES)
    assert out == tmp_path / "pred" / "case.dcm"
    assert [f.name for f in out.parent.iterdir()] == ["case.dcm"]  # no temp file left
    # every source instance's frames hold the labels of the slice it was written with
    assert np.array_equal(_decode_independently(out, uids, SHAPE), _labels(vol.astype(np.float32)))
    # decoded back into the reader's order: equal to the label map and to the NIfTI prediction
    back = read_dicom_seg(out, tmp_path / "series")
    assert back.dtype == np.int64 and np.array_equal(back, label_map)
    nifti, _ = read_mask(write_mask(label_map, meta, tmp_path / "pred" / "case.nii.gz"))
    assert np.array_equal(back, nifti)


def test_seg_references_and_describes_its_source(tmp_path: Path) -> None:
    vol = np.random.default_rng(2).integers(-500, 1500, SHAPE).astype(np.int16)
    uids = write_series(tmp_path / "series", vol, OBLIQUE)
    src = pydicom.dcmread(next((tmp_path / "series").iterdir()), stop_before_pixels=True)
    label_map = _labels(read_volume(tmp_path / "series")[0].astype(np.float32))
    seg = pydicom.dcmread(write_dicom_seg(label_map, tmp_path / "series", tmp_path / "s.dcm", NAMES))

    assert seg.SOPClassUID == SEG_STORAGE and seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.FrameOfReferenceUID == src.FrameOfReferenceUID
    assert seg.StudyInstanceUID == src.StudyInstanceUID and seg.SeriesInstanceUID != src.SeriesInstanceUID
    (ref,) = seg.ReferencedSeriesSequence
    assert ref.SeriesInstanceUID == src.SeriesInstanceUID
    assert sorted(i.ReferencedSOPInstanceUID for i in ref.ReferencedInstanceSequence) == sorted(uids)
    segments = seg.SegmentSequence
    assert [s.SegmentLabel for s in segments] == NAMES[1:]
    assert [int(s.SegmentNumber) for s in segments] == [1, 2]
    for s in segments:
        assert s.SegmentAlgorithmType == "AUTOMATIC" and s.SegmentAlgorithmName == "medunet"
        (alg,) = s.SegmentationAlgorithmIdentificationSequence
        assert alg.AlgorithmName == "medunet" and alg.AlgorithmVersion == __version__
        assert alg.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"  # Artificial Intelligence
    assert seg.Manufacturer == "medunet" and seg.SoftwareVersions == __version__


def test_empty_slices_need_the_series_to_decode(tmp_path: Path) -> None:
    vol = np.random.default_rng(3).integers(-500, 1500, SHAPE).astype(np.int16)
    write_series(tmp_path / "series", vol, OBLIQUE)
    label_map = _labels(read_volume(tmp_path / "series")[0].astype(np.float32))
    full = write_dicom_seg(label_map, tmp_path / "series", tmp_path / "full.dcm", NAMES)
    assert np.array_equal(read_dicom_seg(full), label_map)  # every slice has a frame

    label_map[1] = 0
    label_map[3, :, :4] = 0
    gap = write_dicom_seg(label_map, tmp_path / "series", tmp_path / "gap.dcm", NAMES)
    assert np.array_equal(read_dicom_seg(gap, tmp_path / "series"), label_map)
    with pytest.raises(ValueError, match="series_dir") as exc:
        read_dicom_seg(gap)
    assert str(gap) in str(exc.value) and "\n" not in str(exc.value)

    nothing = write_dicom_seg(np.zeros_like(label_map), tmp_path / "series", tmp_path / "none.dcm", NAMES)
    assert not read_dicom_seg(nothing).any() and read_dicom_seg(nothing).shape == SHAPE


def test_bad_inputs_name_the_file_and_write_nothing(tmp_path: Path) -> None:
    vol = np.random.default_rng(4).integers(-500, 1500, SHAPE).astype(np.int16)
    write_series(tmp_path / "series", vol, OBLIQUE)
    label_map = np.zeros(SHAPE, np.int64)
    out = tmp_path / "out" / "seg.dcm"

    with pytest.raises(ValueError, match=r"shape \(5, 7, 6\).*5 slices of 6x7") as exc:
        write_dicom_seg(label_map.transpose(0, 2, 1), tmp_path / "series", out, NAMES)
    assert str(out) in str(exc.value) and str(tmp_path / "series") in str(exc.value)
    bad = label_map.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"label values 0\.\.3 outside 0\.\.2"):
        write_dicom_seg(bad, tmp_path / "series", out, NAMES)
    with pytest.raises(ValueError, match="segment labels"):
        write_dicom_seg(label_map, tmp_path / "series", out, ["background", "x" * 65])

    nii = write_mask(label_map, read_volume(tmp_path / "series")[1], tmp_path / "pred.nii.gz")
    with pytest.raises(ValueError, match="series folder, not a file") as exc:
        write_dicom_seg(label_map, nii, out, NAMES)
    assert str(nii) in str(exc.value)
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "a.txt").write_text("no DICOM")
    with pytest.raises(ValueError, match="no DICOM series found"):
        write_dicom_seg(label_map, tmp_path / "pngs", out, NAMES)
    with pytest.raises(FileNotFoundError):
        write_dicom_seg(label_map, tmp_path / "absent", out, NAMES)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []

    not_seg = next((tmp_path / "series").iterdir())
    with pytest.raises(ValueError, match="not a readable DICOM Segmentation") as exc:
        read_dicom_seg(not_seg)
    assert str(not_seg) in str(exc.value)


def test_missing_highdicom_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(ImportError, match=r"pip install 'medunet\[dicom\]'"):
        write_dicom_seg(np.zeros(SHAPE, np.int64), tmp_path, tmp_path / "s.dcm", NAMES)


def test_seg_nrrd_for_slicer(tmp_path: Path) -> None:
    vol = np.random.default_rng(5).integers(-500, 1500, SHAPE).astype(np.int16)
    write_series(tmp_path / "series", vol, OBLIQUE)
    image, meta = read_image(tmp_path / "series")
    label_map = _labels(image[0])
    out = write_seg_nrrd(label_map, meta, tmp_path / "case.seg.nrrd", NAMES)

    img = sitk.ReadImage(str(out))
    assert np.array_equal(sitk.GetArrayFromImage(img), label_map)
    np.testing.assert_allclose(img.GetDirection(), meta.direction, atol=1e-6)
    np.testing.assert_allclose(img.GetOrigin(), meta.origin, atol=1e-6)
    np.testing.assert_allclose(img.GetSpacing(), meta.spacing, atol=1e-6)
    for i, name in enumerate(NAMES[1:]):
        assert img.GetMetaData(f"Segment{i}_Name") == name
        assert img.GetMetaData(f"Segment{i}_LabelValue") == str(i + 1)
        assert img.GetMetaData(f"Segment{i}_Layer") == "0"
        assert img.GetMetaData(f"Segment{i}_Extent") == "0 6 0 5 0 4"
    assert img.GetMetaData("Segmentation_MasterRepresentation") == "Binary labelmap"
    with pytest.raises(ValueError, match=r"\.seg\.nrrd"):
        write_seg_nrrd(label_map, meta, tmp_path / "case.nrrd", NAMES)
    with pytest.raises(ValueError, match="does not match"):
        write_seg_nrrd(label_map[1:], meta, tmp_path / "x.seg.nrrd", NAMES)
