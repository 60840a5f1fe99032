"""Inference: a trained run's model on images of any size (pad, tile, blend, crop back)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medunet.bundle import SUFFIX as BUNDLE_SUFFIX
from medunet.bundle import load_bundle
from medunet.checkpoint import checkpoint_file, load_checkpoint
from medunet.data.cases import list_images
from medunet.data.channels import group_channels
from medunet.data.check import problem_from_error
from medunet.data.labels import LabelSet
from medunet.data.normalize import normalize_tensor
from medunet.data.resample import resampled_shape, resize, same_spacing
from medunet.device import inference_memory, resolve_device
from medunet.errors import DatasetError, DeviceMemoryError, Problem
from medunet.inference.ensemble import load_ensemble
from medunet.inference.formats import OutputFormat, check_format_inputs, write_formats
from medunet.inference.onnx_runtime import load_onnx
from medunet.inference.outputs import (
    CasePrediction,
    check_output_name,
    write_prediction,
    write_uncertainty,
)
from medunet.inference.postprocess import Postprocessing, predict_labels, with_postprocessing
from medunet.inference.probs import MemberMean, infer_members
from medunet.inference.uncertainty import Uncertainty, uncertainty_of
from medunet.io import ImageMeta, case_stem, mask_output_name, read_image, read_images
from medunet.io.meta import array_spacing
from medunet.models.factory import model_for
from medunet.plan import Plan

log = logging.getLogger(__name__)


class Predictor:
    """A trained model ready to segment images.

    Examples
    --------
    >>> pred = Predictor.from_run("runs/brain")            # doctest: +SKIP
    >>> labels = pred.predict("scan.png")                  # doctest: +SKIP
    """

    postprocessing: Postprocessing | None = None  # chosen on validation (from_checkpoint sets it)
    def __init__(self, model: torch.nn.Module | Sequence[torch.nn.Module], plan: Plan,
                 labels: LabelSet, device: torch.device, binary_255: bool = False) -> None:
        self.models = [m.to(device).eval() for m in ([model] if isinstance(model, torch.nn.Module) else model)]
        self.model = self.models[0]  # one network, or an ensemble of one plan (--folds) averaged
        self.plan, self.labels, self.device, self.binary_255 = plan, labels, device, binary_255

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any], device: str = "auto") -> Predictor:
        """Build from a loaded checkpoint dict (see :func:`medunet.checkpoint.load_checkpoint`)."""
        plan = Plan.from_dict(data["plan"])
        model = model_for(plan)
        model.load_state_dict(data["model"])
        return with_postprocessing(cls(model, plan, LabelSet.from_dict(data["labels"]),
                                       resolve_device(device), bool(data.get("binary_255", False))), data)

    @classmethod
    def from_run(cls, run: str | os.PathLike[str], device: str = "auto",
                 checkpoint: str = "best") -> Predictor:
        """Load ``RUN_DIR/best.pt`` (``last.pt``, a ``.pt`` file; a ``--folds`` run: every fold's, ensembled).

        A one-file ``.medunet`` bundle (:func:`medunet.bundle.load_bundle`, never unpickled)
        loads like a run folder; an exported ``.onnx`` file runs with onnxruntime on the CPU
        instead (:func:`medunet.inference.onnx_runtime.load_onnx`).
        """
        p = Path(run)
        if p.suffix == ".onnx":
            onnx = load_onnx(p, device)
            return with_postprocessing(cls(onnx.module, onnx.plan, onnx.labels, torch.device("cpu"), onnx.binary_255), vars(onnx))
        if p.suffix == BUNDLE_SUFFIX:
            return cls.from_checkpoint(load_bundle(p), device)
        if (ensemble := load_ensemble(cls, p, checkpoint, device)) is not None:
            return ensemble
        return cls.from_checkpoint(load_checkpoint(checkpoint_file(p, checkpoint)), device)

    def _as_image(self, x: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
        if isinstance(x, str | os.PathLike):
            return read_image(x)[0]
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == self.plan.network.spatial_dims:
            arr = arr[None]
        return arr

    def predict_proba(self, x: np.ndarray | str | os.PathLike[str], *, tta: bool = True,
                      spacing: Sequence[float] | None = None) -> np.ndarray:
        """Class probabilities ``(K, *S)`` float32 at the input's size and grid.

        Parameters
        ----------
        x : ndarray or path
            A path, or an array ``(C, *S)`` / ``(*S)`` of raw (un-normalised) intensities.
        tta : bool
            Average over all flips of the spatial axes (default, as nnU-Net's mirroring:
            4 forward passes in 2D, 8 in 3D; ``False`` is that much faster).
        spacing : sequence of float, optional
            Spacing of an array input per array axis (a path brings its own); volumes are
            resampled to the training spacing and the probabilities back to the input grid.
        """
        return self._member_mean(x, tta, spacing).probs.numpy()

    def predict_uncertainty(self, x: np.ndarray | str | os.PathLike[str], *, tta: bool = True,
                            spacing: Sequence[float] | None = None
                            ) -> tuple[np.ndarray, Uncertainty]:
        """Class probabilities (as :meth:`predict_proba`) and their uncertainty, from one inference.

        The members are the TTA flips (one member with ``tta=False``); the map is the
        normalised entropy of their mean probability at the input's grid, and the score its
        mean over the voxels where any member predicts foreground
        (:mod:`medunet.inference.uncertainty`).

        Returns
        -------
        probs : ndarray, shape (K, *S), float32
        uncertainty : Uncertainty
            ``entropy`` ``(*S)`` float32 in [0, 1], ``score`` and the member count.
        """
        mean = self._member_mean(x, tta, spacing)
        return mean.probs.numpy(), uncertainty_of(mean)

    def _member_mean(self, x: np.ndarray | str | os.PathLike[str], tta: bool,
                     spacing: Sequence[float] | None) -> MemberMean:
        """The members' mean at the input's grid, on the CPU."""
        if isinstance(x, str | os.PathLike):
            img, meta = read_image(x)
            spacing = array_spacing(meta)
        else:
            img = self._as_image(x)
        problem = self.input_problem(img.shape)
        if problem is not None:
            raise ValueError(f"{x}: {problem}" if isinstance(x, str | os.PathLike) else problem)
        shape = img.shape[1:]
        with inference_memory(self.device, img.shape):
            t = torch.from_numpy(np.ascontiguousarray(img)).to(self.device)
            if spacing is not None and self.plan.spacing and not same_spacing(spacing, self.plan.spacing):
                t = resize(t, resampled_shape(shape, spacing, self.plan.spacing), "linear")
            t = normalize_tensor(t, self.plan.normalization, self.plan.intensity)
            mean = infer_members(self.models, t, self.plan, tta=tta)
            probs = resize(mean.probs, shape, "linear").cpu()
            fg = mean.any_foreground
            if tuple(fg.shape) != tuple(shape):  # a mask: nearest neighbour, as labels are resampled
                fg = resize(fg[None].float(), shape, "nearest")[0] > 0.5
            return MemberMean(probs, fg.cpu(), mean.members)

    def input_problem(self, shape: Sequence[int]) -> str | None:
        """Why an image of ``shape`` ``(C, *S)`` does not fit this model, or ``None`` when it does."""
        c = self.plan.image_channels
        if shape[0] != c:
            return f"image has {shape[0]} channel(s); this model expects {c}"
        if len(shape) - 1 != self.plan.data_dims:
            return (f"image is {len(shape) - 1}D (shape {tuple(int(v) for v in shape[1:])}); this model "
                    f"was trained on {self.plan.data_dims}D data")
        return None

    def check_files(self, inputs: Sequence[Path]) -> None:
        """Read every input once before anything is written.

        Raises
        ------
        DatasetError
            Every unreadable file, every image this model cannot take (channels, dimensions)
            and every case whose output name is unsafe, one problem each.
        """
        problems: list[Problem] = []
        for case_id, _, meta in self._read_inputs(inputs, problems):
            try:
                check_output_name(mask_output_name(meta, case_id))
            except ValueError as exc:
                problems.append(Problem(meta.path, str(exc)))
        if problems:
            raise DatasetError(problems)

    def _read_inputs(self, inputs: Iterable[Path], problems: list[Problem]
                     ) -> Iterator[tuple[str, np.ndarray, ImageMeta]]:
        """Read each case's files; unreadable or unfit inputs go to ``problems`` and are skipped."""
        for case_id, files in self._group(list(inputs)):
            try:
                img, meta = read_images(files)
            except (OSError, ValueError) as exc:
                problems.append(problem_from_error(exc, files))
                continue
            problem = self.input_problem(img.shape)
            if problem is not None:
                problems.append(Problem(files[0], problem))
                continue
            yield case_id, img, meta

    def predict(self, x: np.ndarray | str | os.PathLike[str], *, tta: bool = True) -> np.ndarray:
        """Label map ``(*S)`` (int64) at the input's size: argmax, or ``self.postprocessing``."""
        return predict_labels(self.predict_proba, self.postprocessing, x, tta=tta)

    def predict_files(self, inputs: Iterable[Path], out_dir: str | os.PathLike[str], *,
                      tta: bool = True, probabilities: bool = False, overlays: bool = False,
                      uncertainty: bool = False) -> list[CasePrediction]:
        """Predict each input and write its mask (and optional extras) into ``out_dir``.

        For a model with several input channels, ``<case>_0000``, ``<case>_0001``, ... files are
        grouped into one case and its mask is named ``<case>``.

        Parameters
        ----------
        inputs : iterable of Path
        out_dir : path-like
        tta : bool
            Average over all flips of the spatial axes.
        probabilities, overlays : bool
            Also write ``<case>_probs.npz`` / ``<case>_overlay.png``.
        uncertainty : bool
            Also write ``<case>_uncertainty.<ext>`` (float32, the input's geometry; a TIFF for
            2D rasters) and return each case's uncertainty score (see :meth:`predict_uncertainty`).

        Returns
        -------
        list of CasePrediction
            Per case: its id, the mask path and, with ``uncertainty``, the map's path and score.
        """
        written = []
        problems: list[Problem] = []
        out = Path(out_dir)
        # an unreadable file does not stop the others; all are reported at the end
        for case_id, img, meta in self._read_inputs(inputs, problems):
            unc: Uncertainty | None = None
            try:
                if uncertainty:
                    probs, unc = self.predict_uncertainty(img, tta=tta, spacing=array_spacing(meta))
                else:
                    probs = self.predict_proba(img, tta=tta, spacing=array_spacing(meta))
            except DeviceMemoryError as exc:
                raise DeviceMemoryError(f"{meta.path}: {exc}") from exc
            mask = write_prediction(probs, img, meta, out, self.binary_255, probabilities=probabilities,
                                    overlays=overlays, stem=case_id, post=self.postprocessing)
            if unc is None:
                written.append(CasePrediction(case_id, mask))
            else:
                unc_path = write_uncertainty(unc.entropy, meta, out, case_id)
                written.append(CasePrediction(case_id, mask, unc_path, unc.score))
        if problems:
            raise DatasetError(problems)
        return written

    def _group(self, inputs: list[Path]) -> list[tuple[str, tuple[Path, ...]]]:
        if self.plan.image_channels == 1:
            return [(case_stem(p), (p,)) for p in inputs]
        problems: list[Problem] = []
        groups = group_channels({case_stem(p): p for p in inputs}, problems)
        if problems:
            raise DatasetError(problems)
        return sorted(groups.items())


def predict(run: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
            out_dir: str | os.PathLike[str], *, tta: bool = True, probabilities: bool = False,
            overlays: bool = False, uncertainty: bool = False, device: str = "auto",
            output_format: OutputFormat = "mask") -> list[CasePrediction]:
    """Segment a file or folder with a trained run (or an exported ``.onnx`` model, run with
    onnxruntime) and write masks of the inputs' size.

    The model and every input are checked before the first file is written. With
    ``uncertainty``, each mask gets a ``<case>_uncertainty.<ext>`` map beside it
    (:meth:`Predictor.predict_files`); ``output_format`` ``"dicom-seg"`` / ``"seg-nrrd"`` also
    writes each case as a DICOM Segmentation / Slicer segmentation (:mod:`.formats`).

    Returns
    -------
    list of CasePrediction
        Per case: the written mask's path (``.mask``) and, with ``uncertainty``, the map's
        path and the case's uncertainty score.

    Raises
    ------
    DatasetError
        Every missing, unreadable or unfitting input, one problem each.
    FileNotFoundError, ValueError
        The run or its checkpoint is missing, corrupt or not plain data.
    """
    files: list[Path] = []
    for item in ([inputs] if isinstance(inputs, str | os.PathLike) else inputs):
        files.extend(list_images(item))
    predictor = Predictor.from_run(run, device=device)
    predictor.check_files(files)
    check_format_inputs(files, output_format)
    written = predictor.predict_files(files, out_dir, tta=tta, probabilities=probabilities,
                                      overlays=overlays, uncertainty=uncertainty)
    write_formats(written, files, output_format, predictor.labels.names, out_dir)
    return written


__all__ = ["Predictor", "predict"]
