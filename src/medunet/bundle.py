"""One-file model bundles (``model.medunet``): a zip of plain data, checked entry by entry.

A bundle holds everything :class:`~medunet.inference.predictor.Predictor` needs and nothing
that runs on load:

==================  ==============================================================
``manifest.json``   format ``medunet-bundle``, version, medunet version, the tensor
                    order, and the SHA-256 and size of every other entry
``weights/K.npy``   one NumPy ``.npy`` array per state-dict key ``K``, read with
                    ``allow_pickle=False`` (never unpickled)
``plan.json``       the plan; ``config.json`` the training config; ``state.json`` the
                    training state (epochs, best epoch and metric)
``labels.json``     ``{"labels": {"0": "background", ...}, "binary_255": bool}``
``model_card.md``   the run's model card, when it had one (optional)
``model.onnx``      the ONNX graph of :func:`medunet.export.export_onnx` (optional)
``postprocessing``  ``postprocessing.json``: the threshold and component steps chosen on
                    validation (:mod:`medunet.inference.postprocess`; optional)
==================  ==============================================================

:func:`load_bundle` refuses, with one-line ``ValueError`` naming the file, anything else: a
non-zip file, entry names outside that list (absolute paths, ``..``: zip-slip), entries missing
from or not listed in the manifest, a size or hash that differs, and arrays that are not plain
numbers (a pickle payload named ``.npy``, object arrays). Entries are read in memory; nothing
is extracted to disk. The hashes catch corruption, not tampering: a bundle is as trustworthy
as its source.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medunet.checkpoint import FORMAT as CHECKPOINT_FORMAT
from medunet.checkpoint import VERSION as CHECKPOINT_VERSION
from medunet.io.atomic import atomic_path
from medunet.version import __version__

FORMAT = "medunet-bundle"
VERSION = 1
SUFFIX = ".medunet"
MANIFEST = "manifest.json"
#: the JSON entries every bundle has, and the optional ones
JSON_ENTRIES = ("plan.json", "config.json", "labels.json", "state.json")
OPTIONAL_ENTRIES = ("model_card.md", "model.onnx", "postprocessing.json")
#: a weight entry: the state-dict key has no slash and no leading dot, so no path can escape
_WEIGHT = re.compile(r"weights/([A-Za-z0-9_][A-Za-z0-9_.\-]{0,199})\.npy")
#: an entry larger than this is refused before it is read (a zip bomb would fill memory)
MAX_ENTRY_BYTES = 4 << 30
_NPY_MAGIC = b"\x93NUMPY"
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same run gives the same bytes


def _weight_name(key: str) -> str:
    return f"weights/{key}.npy"


def _allowed(name: str) -> bool:
    """Whether ``name`` is an entry a bundle may hold."""
    if name in (MANIFEST, *JSON_ENTRIES, *OPTIONAL_ENTRIES):
        return True
    weight = _WEIGHT.fullmatch(name)
    return weight is not None and ".." not in weight.group(1)


def _npy(tensor: torch.Tensor, key: str) -> bytes:
    try:
        arr = tensor.detach().cpu().numpy()
    except TypeError as exc:  # bfloat16 and other types NumPy lacks
        raise ValueError(f"weight {key!r} has dtype {tensor.dtype}, which a bundle cannot store as "
                         "NumPy; convert the model to float32 first") from exc
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)  # keeps 0-d shapes; any strides
    return buf.getvalue()


def bundle_entries(checkpoint: Mapping[str, Any], *, model_card: str | None = None,
                   onnx: bytes | None = None) -> dict[str, bytes]:
    """The entries of a bundle for a loaded checkpoint, manifest included (name -> bytes)."""
    weights = checkpoint["model"]
    bad = [k for k in weights if not _allowed(_weight_name(k))]
    if bad:
        raise ValueError(f"state-dict keys {bad[:3]} cannot be bundle entry names "
                         "(letters, digits, '_', '.', '-' only)")
    entries = {_weight_name(k): _npy(t, k) for k, t in weights.items()}
    docs: dict[str, Any] = {
        "plan.json": checkpoint["plan"], "config.json": checkpoint.get("config", {}),
        "labels.json": {"labels": checkpoint["labels"],
                        "binary_255": bool(checkpoint.get("binary_255", False))},
        "state.json": checkpoint.get("state", {}),
    }
    if checkpoint.get("postprocessing") is not None:
        docs["postprocessing.json"] = checkpoint["postprocessing"]
    entries.update({n: (json.dumps(d, indent=2) + "\n").encode() for n, d in docs.items()})
    if model_card is not None:
        entries["model_card.md"] = model_card.encode()
    if onnx is not None:
        entries["model.onnx"] = onnx
    manifest = {"format": FORMAT, "version": VERSION, "medunet_version": __version__,
                "tensors": list(weights),
                "entries": {n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                            for n, b in sorted(entries.items())}}
    return {MANIFEST: (json.dumps(manifest, indent=2) + "\n").encode(), **entries}


def write_bundle(checkpoint: Mapping[str, Any], out: str | os.PathLike[str], *,
                 model_card: str | None = None, onnx: bytes | None = None) -> Path:
    """Write a bundle for ``checkpoint`` (as :func:`~medunet.checkpoint.load_checkpoint` returns it).

    The archive is written to a temporary file, loaded back and compared tensor by tensor with
    ``checkpoint["model"]``; only then is it renamed to ``out``.

    Raises
    ------
    ValueError
        ``out`` does not end in ``.medunet``, a weight cannot be stored as NumPy, or the
        archive read back differs.
    """
    p = Path(out)
    if p.suffix != SUFFIX:
        raise ValueError(f"{p}: a bundle file must end in {SUFFIX}")
    entries = bundle_entries(checkpoint, model_card=model_card, onnx=onnx)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries.items():
                zf.writestr(zipfile.ZipInfo(name, date_time=_DATE), data,
                            compress_type=zipfile.ZIP_DEFLATED)
        back = load_bundle(tmp)["model"]
        same = back.keys() == checkpoint["model"].keys() and all(
            torch.equal(back[k], v.detach().cpu()) for k, v in checkpoint["model"].items())
        if not same:
            raise ValueError(f"{p}: the bundle read back differs from the checkpoint; nothing written")
    return p


def _open(p: Path) -> zipfile.ZipFile:
    if not p.is_file():
        raise FileNotFoundError(f"{p}: bundle not found")
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(f"{p}: not a medunet bundle (not a readable zip archive: {exc})") from exc


def _read_all(p: Path, zf: zipfile.ZipFile) -> dict[str, bytes]:
    """Every entry's bytes after checking names, duplicates, flags and sizes."""
    infos = zf.infolist()
    for info in infos:
        if not _allowed(info.filename):
            raise ValueError(f"{p}: refused bundle entry {info.filename!r} (not a bundle entry name; "
                             "an absolute or '..' path could escape the folder): re-export the model")
        if info.flag_bits & 0x1 or info.file_size > MAX_ENTRY_BYTES:
            raise ValueError(f"{p}: refused bundle entry {info.filename!r} (encrypted or over "
                             f"{MAX_ENTRY_BYTES >> 30} GiB)")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise ValueError(f"{p}: bundle holds an entry name twice; re-export the model")
    try:
        return {i.filename: zf.read(i) for i in infos}
    # zipfile raises NotImplementedError for a compression method it cannot read: that is a
    # bundle this machine cannot open, reported like any other corrupt file
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"{p}: corrupt bundle ({exc}); copy it again or re-export") from exc


def _manifest(p: Path, raw: dict[str, bytes]) -> dict[str, Any]:
    if MANIFEST not in raw:
        raise ValueError(f"{p}: not a medunet bundle (no {MANIFEST})")
    try:
        doc = json.loads(raw[MANIFEST])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: bundle {MANIFEST} is not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{p}: not a medunet bundle ({MANIFEST} format is not {FORMAT!r})")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise ValueError(f"{p}: bundle version {doc.get('version')!r} is not one this medunet "
                         f"reads (<= {VERSION}); upgrade medunet")
    if not isinstance(doc.get("entries"), dict) or not isinstance(doc.get("tensors"), list):
        raise ValueError(f"{p}: bundle {MANIFEST} lacks its entries or tensors list")
    return doc


def read_bundle(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """A bundle's entries (name -> bytes), each checked against the manifest's size and SHA-256.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a zip, an unsafe or unknown entry name, an entry missing or not in the manifest,
        or a size or hash that differs.
    """
    p = Path(path)
    with _open(p) as zf:
        raw = _read_all(p, zf)
    doc = _manifest(p, raw)
    listed, present = set(doc["entries"]), set(raw) - {MANIFEST}
    if listed != present:
        missing, extra = sorted(listed - present), sorted(present - listed)
        raise ValueError(f"{p}: bundle entries do not match its manifest (missing: {missing or 'none'}; "
                         f"not listed: {extra or 'none'}); re-export the model")
    required = {*JSON_ENTRIES, *(_weight_name(str(k)) for k in doc["tensors"])}
    if not required <= present or any(n.startswith("weights/") for n in present - required):
        raise ValueError(f"{p}: bundle lacks {sorted(required - present) or 'nothing'} or holds weights "
                         "its manifest's tensors list does not name; re-export the model")
    for name in sorted(present):
        want, data = doc["entries"][name], raw[name]
        if not isinstance(want, dict) or want.get("size") != len(data) or \
                want.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ValueError(f"{p}: bundle entry {name} does not match its SHA-256/size in the manifest "
                             "(corrupt or altered); copy it again or re-export")
    return raw


def _array(p: Path, name: str, data: bytes) -> torch.Tensor:
    """A ``.npy`` entry as a tensor; pickles and object or structured arrays are refused."""
    if not data.startswith(_NPY_MAGIC):
        raise ValueError(f"{p}: bundle entry {name} is not a NumPy .npy array (refused; nothing in a "
                         "bundle is unpickled)")
    try:
        arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{p}: bundle entry {name} is not a plain numeric array (refused: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{p}: bundle entry {name} has dtype {arr.dtype}; weights must be numbers")
    # a copy: the array views the read-only entry bytes, and torch wants native byte order
    return torch.from_numpy(np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C"))


def _json(p: Path, raw: dict[str, bytes], name: str) -> Any:
    try:
        return json.loads(raw[name])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: bundle entry {name} is not JSON ({exc})") from exc


def load_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a bundle as the plain-data checkpoint dict :func:`~medunet.checkpoint.load_checkpoint` returns.

    Keys: ``model`` (state dict of CPU tensors), ``plan``, ``config``, ``labels``, ``binary_255``,
    ``state``, plus ``model_card`` (str or None), ``postprocessing`` (dict or None) and ``manifest``. No optimiser state: a bundle
    predicts and evaluates, it does not resume training.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Anything :func:`read_bundle` refuses, JSON that does not parse, or a weight that is not
        a plain numeric ``.npy`` array.

    Examples
    --------
    >>> pred = Predictor.from_checkpoint(load_bundle("model.medunet"))   # doctest: +SKIP
    """
    p = Path(path)
    raw = read_bundle(p)
    manifest = json.loads(raw[MANIFEST])
    labels = _json(p, raw, "labels.json")
    if not isinstance(labels, dict) or not isinstance(labels.get("labels"), dict):
        raise ValueError(f"{p}: bundle labels.json lacks its labels mapping")
    card = raw.get("model_card.md")
    return {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "model": {str(k): _array(p, _weight_name(str(k)), raw[_weight_name(str(k))])
                  for k in manifest["tensors"]},
        "plan": _json(p, raw, "plan.json"), "config": _json(p, raw, "config.json"),
        "state": _json(p, raw, "state.json"),
        "labels": labels["labels"], "binary_255": bool(labels.get("binary_255", False)),
        "model_card": card.decode("utf-8", errors="replace") if card is not None else None,
        "postprocessing": _json(p, raw, "postprocessing.json") if "postprocessing.json" in raw else None,
        "manifest": manifest,
    }


__all__ = ["FORMAT", "SUFFIX", "VERSION", "bundle_entries", "load_bundle", "read_bundle", "write_bundle"]
