"""From class probabilities to the label map: argmax, or the post-processing chosen on validation.

A trained run may carry a :class:`Postprocessing` (chosen by
:mod:`medunet.training.selection`, stored as plain data under ``"postprocessing"`` in
``best.pt``, in ``RUN/postprocessing.json`` and in ``.medunet`` bundles). It is applied in
this order:

1. binary tasks: foreground where ``p(foreground) > threshold`` (``None``: argmax, which is
   ``p > 0.5``);
2. per class, connected components smaller than ``min_size[class]`` voxels *of the network
   grid* (the plan's spacing) become background; at another spacing the size is converted by
   the voxel volume (``min_size * prod(plan spacing) / prod(input spacing)``);
3. per class in ``largest_only``, all but the largest component become background.

Components are ``connectivity="full"`` (8 neighbours in 2D, 26 in 3D), as the lesion metrics.
Torch-free: numpy and scipy only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from scipy import ndimage

from medunet.io import read_image
from medunet.io.meta import array_spacing

__all__ = ["Postprocessing", "clean_components", "component_sizes", "keep_largest", "labels_from_probs",
           "predict_labels", "remove_small", "to_labels", "with_postprocessing"]

KEY = "postprocessing"


@dataclass(frozen=True)
class Postprocessing:
    """What turns probabilities into the label map beyond argmax (see the module docstring).

    Attributes
    ----------
    threshold : float, optional
        Binary tasks: the foreground probability above which a voxel is foreground.
    min_size : mapping of int to int
        Class value -> smallest kept component, in voxels of the network grid.
    largest_only : tuple of int
        Classes of which only the largest component is kept (per image).
    spacing : tuple of float
        The network grid's spacing per array axis (the plan's); empty: sizes are in voxels of
        whatever grid the labels are on.
    """

    threshold: float | None = None
    min_size: Mapping[int, int] = field(default_factory=dict)
    largest_only: tuple[int, ...] = ()
    spacing: tuple[float, ...] = ()

    @property
    def is_identity(self) -> bool:
        """Whether this is plain argmax."""
        return self.threshold is None and not self.min_size and not self.largest_only

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON and ``weights_only`` checkpoints)."""
        return {"threshold": self.threshold,
                "min_size": {str(k): int(v) for k, v in sorted(self.min_size.items())},
                "largest_only": [int(c) for c in self.largest_only],
                "spacing": [float(s) for s in self.spacing], "connectivity": "full"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Postprocessing | None:
        """Read :meth:`to_dict`'s data; ``None`` (an old checkpoint) stays ``None``.

        Raises
        ------
        ValueError
            The data is not what :meth:`to_dict` writes (names the ``postprocessing`` key).
        """
        if data is None:
            return None
        try:
            threshold = data.get("threshold")
            out = cls(None if threshold is None else float(threshold),
                      {int(k): int(v) for k, v in dict(data.get("min_size") or {}).items()},
                      tuple(int(c) for c in data.get("largest_only") or ()),
                      tuple(float(s) for s in data.get("spacing") or ()))
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"checkpoint '{KEY}' entry is malformed ({exc}); retrain, or remove "
                             "the entry to predict with argmax") from exc
        if out.threshold is not None and not 0.0 < out.threshold < 1.0:
            raise ValueError(f"checkpoint '{KEY}' threshold must be in (0, 1), got {out.threshold}")
        return out


def labels_from_probs(probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Label map ``(*S)`` int64: argmax over ``(K, *S)``, or ``probs[1] > threshold`` when given."""
    if threshold is None:
        return np.asarray(probs).argmax(axis=0)
    if probs.shape[0] != 2:
        raise ValueError(f"a foreground threshold needs 2 classes, got {probs.shape[0]}")
    return (np.asarray(probs[1]) > threshold).astype(np.int64)


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Component ids (0 = outside) and each id's size (index 0 unused), full connectivity."""
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    ids, n = ndimage.label(mask, structure=structure)
    return ids, np.bincount(ids.ravel(), minlength=n + 1)


def component_sizes(mask: np.ndarray) -> np.ndarray:
    """The voxel count of every connected component of a boolean ``mask`` (full connectivity)."""
    return _components(mask)[1][1:]


def remove_small(labels: np.ndarray, cls: int, min_voxels: float) -> np.ndarray:
    """``labels`` with the components of class ``cls`` under ``min_voxels`` set to background."""
    ids, sizes = _components(labels == cls)
    small = sizes < min_voxels
    small[0] = False
    out = labels.copy()
    out[small[ids]] = 0
    return out


def keep_largest(labels: np.ndarray, cls: int) -> np.ndarray:
    """``labels`` with every component of class ``cls`` but the largest set to background."""
    ids, sizes = _components(labels == cls)
    if len(sizes) <= 2:
        return labels
    drop = np.ones(len(sizes), bool)
    drop[0] = False
    drop[int(np.argmax(sizes[1:])) + 1] = False
    out = labels.copy()
    out[drop[ids]] = 0
    return out


def _scale(post: Postprocessing, spacing: Sequence[float] | None) -> float:
    """Network-grid voxels -> voxels of a grid of ``spacing`` (1 when either is unknown)."""
    if not post.spacing or not spacing or len(spacing) != len(post.spacing):
        return 1.0
    return math.prod(post.spacing) / math.prod(float(s) for s in spacing)


def clean_components(labels: np.ndarray, post: Postprocessing,
                     spacing: Sequence[float] | None = None) -> np.ndarray:
    """Steps 2 and 3 of the module docstring on a label map of ``spacing`` (per array axis)."""
    scale = _scale(post, spacing)
    for cls, size in sorted(post.min_size.items()):
        labels = remove_small(labels, cls, size * scale)
    for cls in post.largest_only:
        labels = keep_largest(labels, cls)
    return labels


def to_labels(probs: np.ndarray, post: Postprocessing | None,
              spacing: Sequence[float] | None = None) -> np.ndarray:
    """The label map of ``probs`` ``(K, *S)``: argmax without ``post``, else its three steps."""
    if post is None or post.is_identity:
        return np.asarray(probs).argmax(axis=0)
    return clean_components(labels_from_probs(probs, post.threshold), post, spacing)


def predict_labels(predict_proba: Callable[..., np.ndarray], post: Postprocessing | None,
                   x: np.ndarray | str | os.PathLike[str], *, tta: bool = True) -> np.ndarray:
    """Label map of one input (a path brings its own spacing) for :meth:`Predictor.predict`."""
    if isinstance(x, str | os.PathLike):
        img, meta = read_image(x)
        spacing = array_spacing(meta)
        return to_labels(predict_proba(img, tta=tta, spacing=spacing), post, spacing)
    return to_labels(predict_proba(x, tta=tta), post)


P = TypeVar("P")


def with_postprocessing(predictor: P, checkpoint: Mapping[str, Any]) -> P:
    """Set ``predictor.postprocessing`` from a loaded checkpoint (or bundle); returns it."""
    predictor.postprocessing = Postprocessing.from_dict(checkpoint.get(KEY))  # type: ignore[attr-defined]
    return predictor
