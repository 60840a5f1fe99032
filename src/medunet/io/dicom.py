"""DICOM series discovery: one folder must hold exactly one series (read by :mod:`.volume`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import SimpleITK as sitk

log = logging.getLogger(__name__)

_MAGIC_OFFSET = 128
#: slice positions may deviate from even spacing by this fraction of the spacing (rounded
#: ImagePositionPatient values); beyond it a slice is missing or acquisitions are mixed
MAX_SLICE_DEVIATION = 0.1


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM Part 10 file (``DICM`` after the 128-byte preamble)."""
    try:
        with path.open("rb") as fh:
            fh.seek(_MAGIC_OFFSET)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def holds_dicom(folder: Path, probe: int = 8) -> bool:
    """Whether ``folder`` directly holds DICOM files (``.dcm`` names or the ``DICM`` marker).

    Only the first ``probe`` files are opened, so this is cheap on large series.
    """
    try:
        files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    except OSError:
        return False
    if any(f.suffix.lower() == ".dcm" for f in files):
        return True
    return any(is_dicom_file(f) for f in files[:probe])


@contextmanager
def _quiet_itk() -> Iterator[None]:
    """Silence ITK's own stderr warnings (e.g. "No Series were found"); we raise instead."""
    was = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(was)


def series_files(folder: Path) -> tuple[str, list[str]]:
    """The SeriesInstanceUID and the slice files of the one series in ``folder``.

    Files come sorted along the slice normal (GDCM's position sorting), as ITK reads them.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist.
    ValueError
        The folder holds no DICOM series, or several (each named with its file count).
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: DICOM series folder not found")
    with _quiet_itk():
        uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
        files = {u: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), u)) for u in uids}
    if not uids:
        n = sum(1 for f in folder.iterdir() if f.is_file())
        sub = [d.name for d in folder.iterdir() if d.is_dir()]
        hint = f"; the subfolders {sub[:3]} are not searched, point at one of them" if sub else ""
        raise ValueError(
            f"{folder}: no DICOM series found ({n} files, none readable as DICOM image slices){hint}; "
            "a DICOM input must be a folder holding the slice files of one series"
        )
    if len(uids) > 1:
        listing = ", ".join(f"{u} ({len(files[u])} files)" for u in uids)
        raise ValueError(
            f"{folder}: folder holds {len(uids)} DICOM series: {listing}; "
            "put one series per folder (move each series' files into its own subfolder)"
        )
    log.debug("%s: DICOM series %s, %d files", folder, uids[0], len(files[uids[0]]))
    return uids[0], files[uids[0]]


def read_series(folder: Path) -> tuple[sitk.Image, dict[str, str]]:
    """Read the one DICOM series in ``folder`` with its geometry.

    Returns
    -------
    image : SimpleITK.Image
    extra : dict of str to str
        ``format``, ``series_uid`` and ``files`` for :class:`~medunet.io.ImageMeta`.

    Raises
    ------
    ValueError
        No series, several series, unreadable slices, or slices that are not evenly spaced
        (a missing slice would otherwise silently stretch the volume).
    """
    uid, files = series_files(folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()  # per-slice tags, for the spacing check
    try:
        with _quiet_itk():
            img = reader.Execute()
    except RuntimeError as exc:
        reason = [ln for ln in str(exc).splitlines() if ln.strip()][-1:] or ["unknown error"]
        raise ValueError(f"{folder}: cannot read DICOM series {uid} "
                         f"({reason[0].replace('sitk::ERROR: ', '').strip()[:200]})") from exc
    _check_slice_spacing(folder, uid, reader, img)
    return img, {"format": "dicom", "series_uid": uid, "files": str(len(files))}


def _check_slice_spacing(folder: Path, uid: str, reader: sitk.ImageSeriesReader, img: sitk.Image) -> None:
    """Refuse unevenly spaced slices: ITK would stretch the volume over a missing slice."""
    n = img.GetDepth()
    tag = "0020|0032"  # ImagePositionPatient
    if img.GetDimension() != 3 or n < 3 or not all(reader.HasMetaDataKey(i, tag) for i in range(n)):
        return
    try:
        ipp = np.array([[float(v) for v in reader.GetMetaData(i, tag).split("\\")] for i in range(n)])
    except ValueError:
        return
    normal = np.asarray(img.GetDirection(), dtype=np.float64).reshape(3, 3)[:, 2]
    steps = np.diff(ipp @ normal)
    step = img.GetSpacing()[2]
    dev = float(np.max(np.abs(steps - step)))
    if dev > MAX_SLICE_DEVIATION * step:
        raise ValueError(
            f"{folder}: DICOM slices of series {uid} are not evenly spaced (steps from "
            f"{steps.min():.4g} to {steps.max():.4g} mm, mean {step:.4g} mm); a slice is missing or "
            "the folder mixes acquisitions: export the complete series"
        )
    if dev > 1e-3 * step:
        log.warning("%s: slice steps deviate by up to %.3g mm from even %.4g mm spacing", folder, dev, step)
