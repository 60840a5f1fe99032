"""Uncertainty maps: the normalised entropy of the members' mean probability, and a case score.

The members are every forward pass averaged into a prediction: the flips of test-time
augmentation times the models of an ensemble (:func:`medunet.inference.probs.infer_members`).
Per voxel, the uncertainty is the entropy of the mean class probability divided by ``log K``
(``K`` classes, background included), so it lies in ``[0, 1]``:

* 0 where every member puts probability 1 on the same class (they agree, with certainty);
* 1 where the mean is uniform over the ``K`` classes, e.g. in binary segmentation two members
  that disagree with certainty (``(1, 0)`` and ``(0, 1)``), or members all at 50/50.

Without TTA and with one model there is a single member, and the map is the entropy of that
model's softmax.

The case score is the mean of the map over the voxels where *any* member predicts foreground,
and 0 when none does. A whole-image mean would be dominated by background that every member
labels with certainty (most of a scan), so it would rank cases by the size of their structures
rather than by doubt about them; the union of the members' foreground holds every voxel where
the members' masks could differ, and a case in which no member finds anything is one the
ensemble agrees on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from medunet.inference.probs import MemberMean


@dataclass(frozen=True)
class Uncertainty:
    """The uncertainty of one prediction.

    Parameters
    ----------
    entropy : ndarray, shape (*S), float32
        Entropy of the members' mean probability per voxel, divided by ``log K``: in ``[0, 1]``.
    score : float
        Mean of ``entropy`` over the voxels where any member predicts foreground; 0.0 when
        no member does.
    members : int
        Number of members averaged (TTA flips x models).
    """

    entropy: np.ndarray
    score: float
    members: int


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy over classes of probabilities ``(K, *S)`` divided by ``log K``: ``(*S)`` in [0, 1].

    ``0 log 0`` counts as 0, so a one-hot voxel is exactly 0.

    Examples
    --------
    >>> normalized_entropy(torch.tensor([[1.0, 0.5], [0.0, 0.5]])).tolist()
    [0.0, 1.0]
    """
    k = probs.shape[0]
    if k < 2:
        raise ValueError(f"entropy needs at least 2 classes, got probabilities of shape {tuple(probs.shape)}")
    h = torch.zeros(probs.shape[1:], dtype=torch.float32, device=probs.device)
    for c in range(k):  # one class at a time: (*S) temporaries instead of another (K, *S) map
        pc = probs[c].float()
        h.sub_(torch.special.xlogy(pc, pc))
    # rounding may land a hair outside [0, 1]; the bounds are part of the contract
    return h.div_(math.log(k)).clamp_(0.0, 1.0)


def uncertainty_score(entropy: torch.Tensor, any_foreground: torch.Tensor) -> float:
    """Mean of ``entropy`` ``(*S)`` over ``any_foreground`` ``(*S)`` (bool); 0.0 where that is empty."""
    if not bool(any_foreground.any()):
        return 0.0
    return float(entropy[any_foreground].double().mean())


def uncertainty_of(mean: MemberMean) -> Uncertainty:
    """The map and case score of a member mean (see the module docstring for the definitions)."""
    entropy = normalized_entropy(mean.probs)
    return Uncertainty(entropy.cpu().numpy(), uncertainty_score(entropy, mean.any_foreground),
                       mean.members)
