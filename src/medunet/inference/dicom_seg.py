"""Predictions for DICOM series as DICOM Segmentation objects (``.seg.nrrd``: :mod:`.seg_nrrd`).

:func:`write_dicom_seg` turns a ``(Z, Y, X)`` label map (medunet's array order for a DICOM
series folder) into one BINARY DICOM-SEG (highdicom), one segment per foreground class. Slice
``k`` is matched to its source instance by ImagePositionPatient along the slice normal
(``row x column`` of ImageOrientationPatient), ascending: GDCM's order, hence the order of
:func:`medunet.io.read_volume`'s array. File names and InstanceNumbers are never used.

The SEG references every source SOP instance, shares the series' Study and Frame of Reference,
and names the algorithm ``medunet`` (family Artificial Intelligence, DCM 123110), version
:data:`medunet.__version__`. Segments are labelled with the class names and coded as SCT
"Tissue" (85756007) for category and type, as 3D Slicer codes a new segment. highdicom and
pydicom are optional (``pip install 'medunet[dicom]'``), imported inside the functions.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from medunet.inference.seg_nrrd import check_label_values
from medunet.io.atomic import atomic_path
from medunet.io.dicom import series_files
from medunet.version import __version__

INSTALL_HINT = "pip install 'medunet[dicom]'"
#: DICOM LO (Segment Label) holds at most 64 characters
MAX_LABEL_CHARS = 64


def require(module: str) -> ModuleType:
    """Import an optional DICOM dependency, or raise an ``ImportError`` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is not installed; DICOM-SEG output needs it: {INSTALL_HINT}") from exc


#: Type 2 patient/study attributes a SEG copies from its source: empty when an (anonymised) source
#: lacks them, as DICOM allows, since highdicom needs them present
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "AccessionNumber", "StudyID")


def _normal(iop: Sequence[Any]) -> np.ndarray:
    """The slice normal ``row x column`` of an ImageOrientationPatient value."""
    v = np.asarray([float(x) for x in iop], dtype=np.float64)
    return np.cross(v[:3], v[3:])


def source_instances(series_dir: str | os.PathLike[str]) -> list[Any]:
    """The series' instances (pydicom datasets, no pixel data) in medunet's array slice order.

    Missing Type 2 patient/study attributes are set empty in the returned datasets.

    Raises
    ------
    FileNotFoundError
        ``series_dir`` does not exist.
    ValueError
        Not a folder holding exactly one DICOM series, multi-frame instances, or instances
        without the geometry a SEG needs (ImagePositionPatient, ImageOrientationPatient,
        FrameOfReferenceUID).
    """
    pydicom = require("pydicom")
    folder = Path(series_dir)
    if folder.is_file():
        raise ValueError(f"{folder}: DICOM-SEG output needs the source DICOM series folder, not a file; "
                         "for NIfTI/NRRD/MetaImage inputs write the prediction as .nii.gz")
    _, files = series_files(folder)
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    for f, ds in zip(files, datasets, strict=True):
        missing = [k for k in ("ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID")
                   if k not in ds]
        if missing:
            raise ValueError(f"{f}: DICOM instance lacks {', '.join(missing)}; a DICOM-SEG must be "
                             "placed in the source's frame of reference: write .nii.gz instead")
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise ValueError(f"{f}: multi-frame DICOM instances are not supported for DICOM-SEG output; "
                             "write .nii.gz instead")
        for key in (k for k in _TYPE2 if k not in ds):
            setattr(ds, key, "")
    normal = _normal(datasets[0].ImageOrientationPatient)
    depth = [float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)) for ds in datasets]
    return [datasets[i] for i in np.argsort(depth, kind="stable")]


def _check_labels(label_map: np.ndarray, label_names: Sequence[str], n: int, rows: int, cols: int,
                  series_dir: Path, out: Path) -> np.ndarray:
    """The label map as uint8/uint16 after checking its shape, its values and the names."""
    arr = np.asarray(label_map)
    if arr.shape != (n, rows, cols):
        raise ValueError(f"{out}: label map shape {arr.shape} does not match the series {series_dir} "
                         f"({n} slices of {rows}x{cols}, i.e. (Z, Y, X) = {(n, rows, cols)}); "
                         "pass the prediction for this series in the array order read_image returns")
    check_label_values(arr, label_names, out)
    bad = [str(s) for s in label_names[1:] if not str(s).strip() or len(str(s)) > MAX_LABEL_CHARS
           or "\\" in str(s) or any(ord(c) < 32 for c in str(s))]
    if bad:
        raise ValueError(f"{out}: label names {bad} cannot be DICOM segment labels (1 to "
                         f"{MAX_LABEL_CHARS} printable characters, no backslash); rename the labels")
    return arr.astype(np.uint8 if len(label_names) <= 256 else np.uint16)


def _segment_descriptions(hd: ModuleType, label_names: Sequence[str]) -> list[Any]:
    codes = require("pydicom.sr.codedict").codes
    algorithm = hd.AlgorithmIdentificationSequence(
        name="medunet", family=codes.cid7162.ArtificialIntelligence, version=__version__)
    return [hd.seg.SegmentDescription(
        segment_number=i, segment_label=str(name),
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm) for i, name in enumerate(label_names) if i > 0]


def write_dicom_seg(label_map: np.ndarray, series_dir: str | os.PathLike[str],
                    out_path: str | os.PathLike[str], label_names: Sequence[str], *,
                    series_number: int = 100, series_description: str = "medunet segmentation"
                    ) -> Path:
    """Write a ``(Z, Y, X)`` label map for a DICOM series as a BINARY DICOM-SEG file, atomically.

    Parameters
    ----------
    label_map : ndarray, shape ``(Z, Y, X)``, integer
        Labels ``0..K-1`` in the array order :func:`medunet.io.read_image` returns for
        ``series_dir`` (``Predictor.predict`` output for that folder).
    series_dir : path
        The folder holding the source series (one series, single-frame instances).
    out_path : path
        The file to write (conventionally ``<case>.dcm``).
    label_names : sequence of str
        Name of each label value, background first (``predictor.labels.names``). Every class
        ``1..K-1`` becomes a segment labelled with its name, even when it is empty.
    series_number, series_description
        Of the new SEG series.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ImportError
        highdicom/pydicom missing (``pip install 'medunet[dicom]'``).
    FileNotFoundError
        ``series_dir`` does not exist.
    ValueError
        ``series_dir`` is not a DICOM series folder; the label map's shape, dtype or values do
        not fit the series or the names; a name cannot be a DICOM segment label.

    Examples
    --------
    >>> labels = Predictor.from_run("runs/ct").predict("scans/pat1")          # doctest: +SKIP
    >>> write_dicom_seg(labels, "scans/pat1", "out/pat1.dcm", ["background", "liver"])  # doctest: +SKIP
    """
    hd = require("highdicom")
    src, out = Path(series_dir), Path(out_path)
    sources = source_instances(src)
    pixels = _check_labels(label_map, label_names, len(sources), int(sources[0].Rows),
                           int(sources[0].Columns), src, out)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type="BINARY",
        segment_descriptions=_segment_descriptions(hd, label_names),
        series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="medunet", manufacturer_model_name="medunet",
        software_versions=__version__, device_serial_number="0", content_label="MEDUNET",
        content_description=series_description[:64], series_description=series_description,
        # highdicom cannot encode a SEG without any frame: keep them all when nothing is segmented
        omit_empty_frames=bool(pixels.any()))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        seg.save_as(tmp)
    return out


def _ordered_uids(seg: Any, path: Path) -> list[str]:
    """Source SOP Instance UIDs in array slice order, from the SEG's own frame positions."""
    ref = [str(i.ReferencedSOPInstanceUID)
           for s in seg.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence]
    normal = _normal(seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                     .ImageOrientationPatient)
    depth: dict[str, float] = {}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        ipp = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        depth[uid] = float(np.dot(ipp, normal))
    if set(depth) != set(ref):
        raise ValueError(f"{path}: the SEG has no frame for {len(set(ref) - set(depth))} of its "
                         f"{len(ref)} source slices (empty slices are omitted), so their positions "
                         "are unknown; pass series_dir= the source series folder")
    return sorted(ref, key=lambda u: depth[u])


def read_dicom_seg(path: str | os.PathLike[str], series_dir: str | os.PathLike[str] | None = None
                   ) -> np.ndarray:
    """Decode a DICOM-SEG into a ``(Z, Y, X)`` int64 label map (segment numbers as labels).

    Slices come in the order :func:`write_dicom_seg` and :func:`medunet.io.read_image` use.

    Parameters
    ----------
    path : path
        The DICOM-SEG file.
    series_dir : path, optional
        The source series folder. Needed when the SEG omits empty slices (medunet's SEGs omit
        frames with no voxel of a segment), since only the source knows where those slices lie.

    Raises
    ------
    ImportError
        highdicom/pydicom missing (``pip install 'medunet[dicom]'``).
    FileNotFoundError
        No such file.
    ValueError
        Not a DICOM Segmentation, overlapping segments, or slices whose position is unknown.
    """
    hd = require("highdicom")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: DICOM-SEG file not found")
    try:
        seg = hd.seg.segread(p)
    except Exception as exc:  # pydicom and highdicom raise many types for a non-SEG file
        raise ValueError(f"{p}: not a readable DICOM Segmentation ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    uids = ([str(ds.SOPInstanceUID) for ds in source_instances(series_dir)] if series_dir is not None
            else _ordered_uids(seg, p))
    try:
        arr = seg.get_pixels_by_source_instance(uids, combine_segments=True)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"{p}: cannot decode the segmentation for its source series "
                         f"({str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__})") from exc
    return np.asarray(arr, dtype=np.int64)


__all__ = ["INSTALL_HINT", "read_dicom_seg", "source_instances", "write_dicom_seg"]
