"""NIfTI integrity checks that ITK 5 does not make (SimpleITK reads the data, see :mod:`.volume`).

ITK 5's NIfTI reader accepts a truncated file and fills the missing voxels, and silently
replaces NaN and +-Inf voxels with 0 (fixed only in ITK 6, InsightSoftwareConsortium/ITK#6683).
One streaming pass over the file (decompressing ``.nii.gz``) catches both before ITK reads it.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: NIfTI datatype code -> NumPy float type checked for NaN/Inf (complex types are refused later)
_FLOATS = {16: "f4", 64: "f8"}
_CHUNK = 1 << 22


def _header(head: bytes, p: Path) -> tuple[int, int, str | None]:
    """``(vox_offset, data bytes, float dtype or None)`` from a NIfTI-1 or NIfTI-2 header."""
    for e in "<>":
        if len(head) >= 348 and struct.unpack(e + "i", head[:4])[0] == 348:
            dims = struct.unpack(e + "8h", head[40:56])
            datatype, bitpix = struct.unpack(e + "2h", head[70:74])
            raw_offset = struct.unpack(e + "f", head[108:112])[0]
            if not math.isfinite(raw_offset) or raw_offset < 0:  # int() of inf/nan would raise
                raise ValueError(f"{p}: invalid NIfTI header (vox_offset {raw_offset})")
            offset = int(raw_offset)
            break
        if len(head) >= 540 and struct.unpack(e + "i", head[:4])[0] == 540:
            datatype, bitpix = struct.unpack(e + "2h", head[12:16])
            dims = struct.unpack(e + "8q", head[16:80])
            offset = struct.unpack(e + "q", head[168:176])[0]
            if offset < 0:
                raise ValueError(f"{p}: invalid NIfTI header (vox_offset {offset})")
            break
    else:
        raise ValueError(f"{p}: not a NIfTI file (no valid NIfTI-1/2 header); check the file and its suffix")
    n = dims[0]
    if not 1 <= n <= 7 or any(d < 1 for d in dims[1:n + 1]) or bitpix < 1:
        raise ValueError(f"{p}: invalid NIfTI header (dims {list(dims[:n + 1])}, bitpix {bitpix})")
    fdt = _FLOATS.get(datatype)
    return offset, math.prod(dims[1:n + 1]) * bitpix // 8, (e + fdt) if fdt else None


def _scan(read: Callable[[int], bytes], head: bytes, offset: int, nbytes: int, fdt: str | None) -> tuple[int, int]:
    """Read the rest of the stream: ``(total bytes, non-finite voxels)``."""
    pos, bad, rest = 0, 0, b""
    size = np.dtype(fdt).itemsize if fdt else 1
    chunk = head
    while chunk:
        if fdt:
            data = rest + chunk[max(0, offset - pos): max(0, offset + nbytes - pos)]
            usable = len(data) - len(data) % size
            bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(data[:usable], fdt))))
            rest = data[usable:]
        pos += len(chunk)
        chunk = read(_CHUNK)
    return pos, bad


def check_nifti(p: Path) -> None:
    """Refuse a truncated or corrupt NIfTI file, or one holding NaN/Inf voxels.

    Raises
    ------
    ValueError
        Naming the file: not NIfTI, bad gzip data, fewer bytes than the header needs, or
        NaN/Inf voxels (which ITK would read as 0).
    """
    with p.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(p, "rb") if gz else p.open("rb")) as fh:
            head = fh.read(540)
            offset, nbytes, fdt = _header(head, p)
            if gz or fdt:
                have, bad = _scan(fh.read, head, offset, nbytes, fdt)
            else:
                have, bad = p.stat().st_size, 0
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{p}: corrupt or truncated gzip data ({exc}); re-export or re-copy the file") from exc
    if have < offset + nbytes:
        raise ValueError(f"{p}: truncated NIfTI file ({have} of {offset + nbytes} bytes); "
                         "re-export or re-copy it")
    if bad:
        raise ValueError(f"{p}: file contains {bad} NaN or Inf voxels; replace them (e.g. with 0) "
                         "before using it")
