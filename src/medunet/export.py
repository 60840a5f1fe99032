"""Export a run to ONNX, with a numeric parity check against PyTorch, or as a .medunet bundle.

The graph is written by PyTorch's TorchScript-based exporter (``torch.onnx.export(...,
dynamo=False)``) at opset :data:`DEFAULT_OPSET` (17, run by onnxruntime >= 1.13): it needs only
the ``onnx`` package, not ``onnxscript``. Batch and every spatial axis are dynamic. Input
``image``: the *normalised* image ``(B, C, *S)`` float32 with ``S`` multiples of the network's
divisor; output ``logits``: ``(B, K, *S)``. Everything needed to prepare inputs and read outputs
(plan with patch size, divisor and normalisation, label map, 0/255 masks) is in the sidecar
``<model>.onnx.json`` and, as a copy, in the model's metadata under the key ``medunet``.

PyTorch calls the TorchScript exporter legacy (torch >= 2.9 defaults to ``dynamo=True``, which
needs ``onnxscript``); it is kept here because it works with torch 2.4 .. 2.13 without another
dependency. The parity check guards either way.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch

from medunet.bundle import SUFFIX, write_bundle
from medunet.checkpoint import checkpoint_file, load_checkpoint
from medunet.fold_runs import refuse_folds_run
from medunet.inference.onnx_runtime import (
    METADATA_KEY,
    SIDECAR_FORMAT,
    make_session,
    require,
    sidecar_path,
)
from medunet.inference.predictor import Predictor
from medunet.plan import Plan
from medunet.version import __version__

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
#: the export fails when PyTorch and onnxruntime logits differ by this much or more
PARITY_TOLERANCE = 1e-4
ExportFormat = Literal["onnx", "bundle"]
FORMATS: tuple[ExportFormat, ...] = ("onnx", "bundle")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and measured."""

    model: Path
    sidecar: Path
    opset: int
    max_abs_diff: float
    parity_shapes: tuple[tuple[int, ...], ...]


def parity_shapes(plan: Plan) -> list[tuple[int, ...]]:
    """Two input shapes unlike the trace's: ``(1, C, ~96, ~80[, ~64])`` and ``(2, C, ~64, ...)``,
    rounded up to the network's divisor."""
    net = plan.network
    d, n = net.divisor, net.spatial_dims
    up = [int(math.ceil(s / d) * d) for s in (96, 80, 64)[:n]]
    return [(1, net.in_channels, *up), (2, net.in_channels, *[int(math.ceil(64 / d) * d)] * n)]


def sidecar_document(predictor: Predictor, opset: int) -> dict[str, Any]:
    """The sidecar JSON: how to prepare inputs for the graph and read its outputs."""
    plan, net, post = predictor.plan, predictor.plan.network, predictor.postprocessing
    return {
        "format": SIDECAR_FORMAT, "version": 1, "medunet_version": __version__, "opset": opset,
        "input": {"name": "image", "layout": "(B, C, *S)", "dtype": "float32",
                  "normalized": plan.normalization},
        "output": {"name": "logits", "layout": "(B, K, *S)"},
        "labels": predictor.labels.to_dict(), "binary_255": predictor.binary_255,
        "patch_size": list(plan.patch_size), "divisor": net.divisor,
        "normalization": plan.normalization, "in_channels": net.in_channels,
        "num_classes": net.num_classes, "plan": plan.to_dict(), "postprocessing": post and post.to_dict(),
    }


def _graph_bytes(model: torch.nn.Module, example: torch.Tensor, opset: int) -> bytes:
    spatial = {i: f"s{i - 2}" for i in range(2, example.ndim)}
    with tempfile.TemporaryDirectory(prefix="medunet-export-") as tmp, warnings.catch_warnings():
        # shape checks inside InstanceNorm trace as constants (the parity check runs other
        # sizes), instance_norm is always exported with instance statistics, and torch
        # announces that the TorchScript exporter is legacy
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*instance_norm.*train=True", category=UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        path = Path(tmp) / "model.onnx"
        # torch < 2.5 has no ``dynamo`` argument and always uses the TorchScript exporter
        legacy: dict[str, Any] = (
            {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {})
        torch.onnx.export(model, (example,), path, **legacy, opset_version=opset,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch", **spatial},
                                        "logits": {0: "batch", **spatial}})
        return path.read_bytes()


def _embed(graph: bytes, doc: dict[str, Any]) -> bytes:
    onnx = require("onnx")
    proto = onnx.load_from_string(graph)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(doc)
    proto.producer_name = "medunet"
    proto.producer_version = doc["medunet_version"]
    return bytes(proto.SerializeToString())


@torch.no_grad()
def max_logit_difference(model: torch.nn.Module, graph: bytes, shapes: Sequence[tuple[int, ...]],
                         seed: int = 0) -> float:
    """Max ``|PyTorch - onnxruntime|`` logit over seeded standard-normal inputs of ``shapes``."""
    session = make_session(graph)
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for shape in shapes:
        x = torch.randn(shape, generator=gen)
        ref = model(x).float().numpy()
        (got,) = session.run(["logits"], {"image": x.numpy()})
        if got.shape != ref.shape:
            raise ValueError(f"ONNX output shape {got.shape} != PyTorch {ref.shape} for input {shape}")
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def _write_atomic(files: dict[Path, bytes]) -> None:
    """Write every file to a temp name first, then rename them all; nothing half-written stays."""
    tmps = {p: p.with_name(f".tmp-{p.name}") for p in files}
    try:
        for p, data in files.items():
            with open(tmps[p], "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for p, tmp in tmps.items():
            os.replace(tmp, p)
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


def _checked_graph(predictor: Predictor, opset: int, tolerance: float, out: Path
                   ) -> tuple[bytes, dict[str, Any], float, list[tuple[int, ...]]]:
    """The ONNX graph (metadata embedded), its sidecar document, and the parity it passed.

    Raises ``ValueError`` naming ``out`` when the parity check fails.
    """
    require("onnx")
    require("onnxruntime")
    model, plan = predictor.model.eval(), predictor.plan
    example = torch.zeros((1, plan.network.in_channels, *plan.patch_size))
    doc = sidecar_document(predictor, opset)
    graph = _embed(_graph_bytes(model, example, opset), doc)
    shapes = parity_shapes(plan)
    diff = max_logit_difference(model, graph, shapes)
    if not diff < tolerance:
        raise ValueError(f"{out}: ONNX parity check failed: max |logit difference| {diff:.3g} >= "
                         f"{tolerance:g} on inputs {shapes}; nothing written (try another --opset)")
    doc["parity"] = {"max_abs_logit_diff": diff, "shapes": [list(s) for s in shapes]}
    return graph, doc, diff, shapes


def export_onnx(run: str | os.PathLike[str], out: str | os.PathLike[str], *,
                checkpoint: str = "best", opset: int = DEFAULT_OPSET,
                tolerance: float = PARITY_TOLERANCE) -> ExportResult:
    """Export a run's model to ONNX and check it against PyTorch before writing anything.

    Parameters
    ----------
    run : path
        Run folder (its ``best.pt``, or ``last.pt`` with ``checkpoint="last"``) or a ``.pt`` file.
    out : path
        The ``.onnx`` file to write; the sidecar goes to ``<out>.json``.
    checkpoint : {"best", "last"}
    opset : int
        ONNX opset (default 17).
    tolerance : float
        The largest acceptable max-abs logit difference (exclusive).

    Returns
    -------
    ExportResult
        Paths written, opset, and the measured max abs logit difference.

    Raises
    ------
    ImportError
        ``onnx`` or ``onnxruntime`` missing (``pip install 'medunet[onnx]'``).
    FileNotFoundError
        No run or checkpoint there.
    ValueError
        ``out`` is not an ``.onnx`` path, or the parity check failed (nothing is written).

    Examples
    --------
    >>> res = export_onnx("runs/brain", "brain.onnx")            # doctest: +SKIP
    >>> res.max_abs_diff < 1e-4                                   # doctest: +SKIP
    True
    """
    out_p = Path(out)
    if out_p.suffix != ".onnx":
        raise ValueError(f"{out_p}: the output file must end in .onnx")
    if Path(run).suffix == ".onnx":
        raise ValueError(f"{run}: already an ONNX model; export takes a run folder or a .pt checkpoint")
    predictor = Predictor.from_run(run, device="cpu", checkpoint=checkpoint)
    graph, doc, diff, shapes = _checked_graph(predictor, opset, tolerance, out_p)
    out_p.parent.mkdir(parents=True, exist_ok=True)
    side = sidecar_path(out_p)
    _write_atomic({out_p: graph, side: (json.dumps(doc, indent=2) + "\n").encode()})
    log.info("exported %s (opset %d); max |logit difference| vs PyTorch %.2e", out_p, opset, diff)
    return ExportResult(out_p, side, opset, diff, tuple(shapes))


@dataclass(frozen=True)
class BundleResult:
    """What :func:`export_bundle` wrote: the archive, its entries, and the ONNX parity when included."""

    model: Path
    entries: tuple[str, ...]
    onnx_max_abs_diff: float | None


def export_bundle(run: str | os.PathLike[str], out: str | os.PathLike[str], *,
                  checkpoint: str = "best", onnx: bool = False, opset: int = DEFAULT_OPSET,
                  tolerance: float = PARITY_TOLERANCE) -> BundleResult:
    """Export a run as one ``.medunet`` file (:mod:`medunet.bundle`): ``.npy`` weights, plan,
    config, labels, ``model_card.md`` (when beside the checkpoint) and, with ``onnx=True``, the
    ONNX graph after the parity check of :func:`export_onnx`. Other parameters as there.

    Raises
    ------
    FileNotFoundError
        No run or checkpoint there.
    ImportError
        ``onnx=True`` without ``onnx``/``onnxruntime`` (``pip install 'medunet[onnx]'``).
    ValueError
        ``out`` does not end in ``.medunet``, the checkpoint is not plain data, or the ONNX
        parity check failed (nothing is written).

    Examples
    --------
    >>> export_bundle("runs/brain", "brain.medunet").model        # doctest: +SKIP
    PosixPath('brain.medunet')
    """
    out_p = Path(out)
    if out_p.suffix != SUFFIX:
        raise ValueError(f"{out_p}: a bundle file must end in {SUFFIX}")
    path = checkpoint_file(run, checkpoint)
    data = load_checkpoint(path)
    card_file = path.parent / "model_card.md"
    card = card_file.read_text(encoding="utf-8") if card_file.is_file() else None
    graph, diff = None, None
    if onnx:
        graph, _, diff, _ = _checked_graph(Predictor.from_checkpoint(data, "cpu"), opset, tolerance, out_p)
    write_bundle(data, out_p, model_card=card, onnx=graph)
    with zipfile.ZipFile(out_p) as zf:
        entries = tuple(zf.namelist())
    log.info("exported %s (%d entries)", out_p, len(entries))
    return BundleResult(out_p, entries, diff)


@overload
def export_model(run: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 format: Literal["onnx"] = ..., **kwargs: Any) -> ExportResult: ...
@overload
def export_model(run: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 format: Literal["bundle"], **kwargs: Any) -> BundleResult: ...
def export_model(run: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 format: ExportFormat = "onnx", **kwargs: Any) -> ExportResult | BundleResult:
    """Export a run as ``"onnx"`` (:func:`export_onnx`) or ``"bundle"`` (:func:`export_bundle`).

    Raises
    ------
    ValueError
        Unknown format, or ``run`` is a ``--folds`` run (export one of its folds, ``RUN/fold_0``).
    """
    refuse_folds_run(run, "export")
    if format == "onnx":
        return export_onnx(run, out, **kwargs)
    if format == "bundle":
        return export_bundle(run, out, **kwargs)
    raise ValueError(f"--format {format!r}: unknown export format; supported: {', '.join(FORMATS)}")


__all__ = ["DEFAULT_OPSET", "FORMATS", "PARITY_TOLERANCE", "BundleResult", "ExportFormat", "ExportResult",
           "export_bundle", "export_model", "export_onnx",
           "max_logit_difference", "parity_shapes", "sidecar_document"]
