"""Inference with an exported ONNX model: onnxruntime behind the same
:class:`~medunet.inference.predictor.Predictor`.

The session is wrapped as a ``torch.nn.Module`` (:class:`OnnxModule`), so normalisation,
padding, sliding windows, TTA and output writing are the PyTorch path's own code: an
exported model gives masks in exactly the same format.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from medunet.data.labels import LabelSet
from medunet.plan import Plan

log = logging.getLogger(__name__)

#: ``"format"`` field of the sidecar and of the model's embedded metadata
SIDECAR_FORMAT = "medunet-onnx"
#: key of the sidecar document in the ONNX model's ``metadata_props``
METADATA_KEY = "medunet"
INSTALL_HINT = "pip install 'medunet[onnx]'"


def require(module: str) -> ModuleType:
    """Import an optional ONNX dependency, or raise an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is not installed; ONNX export and inference need it: "
                          f"{INSTALL_HINT}") from exc


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """The sidecar JSON beside an exported model: ``model.onnx`` -> ``model.onnx.json``."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


class OnnxModule(torch.nn.Module):
    """An onnxruntime session as a module: normalised ``(B, C, *S)`` -> logits ``(B, K, *S)``.

    Runs on the CPU execution provider; the logits come back on the input's device.
    """

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        (out,) = self.session.run([self.output_name], {self.input_name: arr})
        return torch.from_numpy(out).to(x.device)


def make_session(model: bytes | str | os.PathLike[str]) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU provider for model bytes or a file."""
    ort = require("onnxruntime")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def _embedded_metadata(session: Any) -> dict[str, Any] | None:
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return json.loads(text) if text else None


def read_metadata(model_path: Path, session: Any) -> dict[str, Any]:
    """The sidecar document, or (when the sidecar is missing) the copy embedded in the model.

    Raises
    ------
    FileNotFoundError
        Neither a sidecar nor embedded metadata.
    ValueError
        The sidecar is not valid JSON or not a medunet ONNX sidecar.
    """
    side = sidecar_path(model_path)
    if side.is_file():
        try:
            doc = json.loads(side.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{side}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                             "re-export the model with `medunet export`") from exc
    else:
        doc = _embedded_metadata(session)
        if doc is None:
            raise FileNotFoundError(f"{side}: sidecar not found and {model_path.name} carries no medunet "
                                    "metadata; keep the .onnx.json written by `medunet export` beside it")
        log.info("%s not found: using the metadata embedded in %s", side.name, model_path.name)
    if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{side}: not a medunet ONNX sidecar (expected \"format\": \"{SIDECAR_FORMAT}\")")
    return doc


@dataclass(frozen=True)
class OnnxModel:
    """An exported model as a :class:`~medunet.inference.predictor.Predictor` takes it."""

    module: OnnxModule
    plan: Plan
    labels: LabelSet
    #: binary masks were stored as 0/255 in training: predictions are written the same way
    binary_255: bool
    #: the run's post-processing (:mod:`medunet.inference.postprocess`) as plain data, or None
    postprocessing: dict[str, Any] | None = None


def load_onnx(path: str | os.PathLike[str], device: str = "auto") -> OnnxModel:
    """An exported ``.onnx`` model with onnxruntime (CPU) and its sidecar's plan and labels.

    ``Predictor.from_run("model.onnx")`` wraps it in a :class:`~medunet.inference.predictor.Predictor`.

    Parameters
    ----------
    path : path
        The ``.onnx`` file written by :func:`medunet.export.export_onnx`; its sidecar
        ``<path>.json`` (label map, plan, normalisation) is read from beside it.
    device : str
        Ignored except for a log line: onnxruntime runs on the CPU provider.

    Raises
    ------
    ImportError
        onnxruntime is not installed (``pip install 'medunet[onnx]'``).
    FileNotFoundError
        No such model file, or no sidecar.
    ValueError
        The file is not a readable ONNX model or its sidecar is not medunet's.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: ONNX model not found")
    errors = require("onnxruntime").capi.onnxruntime_pybind11_state
    try:
        session = make_session(p)
    except (errors.Fail, errors.InvalidProtobuf, errors.InvalidGraph, errors.NoSuchFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{p}: not a readable ONNX model ({first}); export one with "
                         "`medunet export RUN_DIR --out model.onnx`") from exc
    doc = read_metadata(p, session)
    if device not in ("auto", "cpu"):
        log.info("ONNX models run with onnxruntime on the CPU; --device %s ignored", device)
    return OnnxModel(OnnxModule(session), Plan.from_dict(doc["plan"]), LabelSet.from_dict(doc["labels"]),
                     bool(doc.get("binary_255", False)), doc.get("postprocessing"))


__all__ = ["OnnxModel", "OnnxModule", "load_onnx", "make_session", "read_metadata", "require",
           "sidecar_path"]
