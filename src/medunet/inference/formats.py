"""Clinical output formats beside the masks: DICOM Segmentation objects and 3D Slicer ``.seg.nrrd``.

``medunet predict RUN INPUT --format dicom-seg`` writes, for each DICOM series input, a DICOM-SEG
referencing the series' instances (:mod:`medunet.inference.dicom_seg`); ``--format seg-nrrd``
writes a Slicer segmentation for each volume (:mod:`medunet.inference.seg_nrrd`). The mask in the
input's own format family is always written too: the formats are decoded from it, so the three
hold the same labels voxel for voxel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from medunet.errors import DatasetError, Problem
from medunet.inference.outputs import CasePrediction
from medunet.inference.seg_nrrd import write_seg_nrrd
from medunet.io import case_stem, read_mask
from medunet.io.dicom import holds_dicom
from medunet.io.raster import RASTER_SUFFIXES

OutputFormat = Literal["mask", "dicom-seg", "seg-nrrd"]
FORMATS: tuple[OutputFormat, ...] = ("mask", "dicom-seg", "seg-nrrd")


def check_format_inputs(files: Sequence[Path], fmt: OutputFormat) -> None:
    """Refuse, before anything is written, inputs that cannot be written in ``fmt``.

    Raises
    ------
    DatasetError
        ``dicom-seg``: an input that is not a DICOM series folder; ``seg-nrrd``: a 2D raster.
    ValueError
        An unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    problems = []
    for f in files:
        if fmt == "dicom-seg" and not (f.is_dir() and holds_dicom(f)):
            problems.append(Problem(f, "--format dicom-seg needs DICOM series folders as input "
                                       "(a DICOM-SEG references the source instances); use the "
                                       "default --format mask for other files"))
        elif fmt == "seg-nrrd" and f.suffix.lower() in RASTER_SUFFIXES:
            problems.append(Problem(f, "--format seg-nrrd is for volumes; 2D images get masks "
                                       "in their own format (the default --format mask)"))
    if problems:
        raise DatasetError(problems)


def write_formats(written: Sequence[CasePrediction], files: Sequence[Path], fmt: OutputFormat,
                  label_names: Sequence[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write each predicted case in ``fmt`` into ``out_dir`` (nothing for ``"mask"``).

    ``files`` are the inputs the cases were predicted from (matched by case id): the series
    folder a DICOM-SEG references. Returns the written paths.
    """
    if fmt == "mask":
        return []
    by_id = {case_stem(f): f for f in files}
    out = Path(out_dir)
    paths = []
    for w in written:
        label_map, meta = read_mask(w.mask)
        if fmt == "dicom-seg":
            from medunet.inference.dicom_seg import write_dicom_seg  # highdicom: an optional extra

            paths.append(write_dicom_seg(label_map, by_id[w.case_id], out / f"{w.case_id}.seg.dcm",
                                         label_names))
        else:
            paths.append(write_seg_nrrd(label_map, meta, out / f"{w.case_id}.seg.nrrd", label_names))
    return paths
