"""Class probabilities of one normalised image: padded whole or in sliding windows, with flip TTA.

Every forward pass that is averaged into the prediction is a *member*: the flips of test-time
augmentation times the models of an ensemble (``models`` may be one module or several, e.g. the
folds of a cross-validation). :class:`MemberAccumulator` averages any number of member maps and
remembers where any member predicted foreground, which :mod:`medunet.inference.uncertainty`
needs for its case score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from medunet.data.slices import stack_context
from medunet.inference.sliding import crop, pad_to_multiple, sliding_window
from medunet.plan import Plan

WHOLE_IMAGE_PATCHES = 4


@dataclass(frozen=True)
class MemberMean:
    """The mean of several members' class probabilities.

    Parameters
    ----------
    probs : Tensor, shape (K, *S)
        Mean softmax probabilities over the members.
    any_foreground : Tensor, shape (*S), bool
        Voxels where at least one member's most likely class is not background (class 0).
    members : int
        Number of member maps averaged (TTA flips x models).
    """

    probs: torch.Tensor
    any_foreground: torch.Tensor
    members: int


class MemberAccumulator:
    """Running mean of member probability maps ``(K, *S)``.

    It holds one ``(K, *S)`` sum (it takes over the first member's tensor) and one ``(*S)``
    boolean map, so averaging N members costs no more memory than averaging two.
    """

    def __init__(self) -> None:
        self._sum: torch.Tensor | None = None
        self._any_foreground: torch.Tensor | None = None
        self.members = 0

    def add(self, probs: torch.Tensor) -> None:
        """Add one member's probabilities ``(K, *S)``; the tensor may be modified in place later."""
        # argmax(0) != 0 without an int64 (*S) map: ties go to class 0, as argmax's first maximum
        fg = probs[1:].amax(dim=0) > probs[0]
        if self._sum is None or self._any_foreground is None:
            self._sum, self._any_foreground = probs, fg
        else:
            self._sum.add_(probs)
            self._any_foreground |= fg
        self.members += 1

    def mean(self) -> MemberMean:
        """The members' mean (the accumulator's sum is divided in place and handed over)."""
        if self._sum is None or self._any_foreground is None:
            raise ValueError("no member probabilities were added")
        if self.members > 1:
            self._sum.div_(self.members)
        return MemberMean(self._sum, self._any_foreground, self.members)


def _module_list(models: torch.nn.Module | Sequence[torch.nn.Module]) -> list[torch.nn.Module]:
    """One module or several, as a non-empty list."""
    out = [models] if isinstance(models, torch.nn.Module) else list(models)
    if not out:
        raise ValueError("no models given: pass one torch.nn.Module or a non-empty sequence of them")
    return out


def _flips(ndim: int, tta: bool) -> list[tuple[int, ...]]:
    """All subsets of the spatial axes of a ``(B, C, *S)`` tensor (only ``()`` without TTA)."""
    if not tta:
        return [()]
    axes = list(range(2, ndim))
    return [tuple(a for i, a in enumerate(axes) if mask >> i & 1) for mask in range(2 ** len(axes))]


@torch.no_grad()
def infer_members(
    models: torch.nn.Module | Sequence[torch.nn.Module],
    image: torch.Tensor,
    plan: Plan,
    *,
    tta: bool = False,
    overlap: float = 0.5,
) -> MemberMean:
    """Mean probabilities of every member (TTA flips x models) for one normalised image ``(C, *S)``.

    Parameters
    ----------
    models : Module or sequence of Module
        One network, or several with the same plan (an ensemble); each sees every flip.
    image : Tensor, shape (C, *S)
        Normalised intensities on the models' device.
    plan : Plan
    tta : bool
        Average over all flips of the spatial axes (2^D members per model).
    overlap : float
        Overlap of neighbouring sliding windows.

    Returns
    -------
    MemberMean
        ``probs`` ``(K, *S)``, ``any_foreground`` ``(*S)`` and the member count.

    Images up to ``WHOLE_IMAGE_PATCHES`` patches are padded to the network's divisor and
    predicted whole; larger ones go through Gaussian-blended sliding windows of the
    training patch size. A slicewise plan (2D network on a volume) predicts slice by slice;
    with ``plan.context_slices = k`` each slice gets its ``k`` neighbours on each side as
    channels, stacked as in training (:func:`medunet.data.slices.stack_context`).
    """
    nets = _module_list(models)
    k = plan.network.num_classes
    if plan.slicewise and image.ndim == 4:
        # a 2D network on a volume: slice by slice along the first axis, restacked
        probs = torch.empty((k, *image.shape[1:]), device=image.device)
        fg = torch.empty(image.shape[1:], dtype=torch.bool, device=image.device)
        members = 0
        for z in range(image.shape[1]):
            m = infer_members(nets, stack_context(image, z, plan.context_slices), plan, tta=tta,
                              overlap=overlap)
            probs[:, z], fg[z], members = m.probs, m.any_foreground, m.members
        return MemberMean(probs, fg, members)
    x, pads = pad_to_multiple(image.unsqueeze(0), plan.network.divisor, plan.patch_size)
    whole = math.prod(x.shape[2:]) <= WHOLE_IMAGE_PATCHES * math.prod(plan.patch_size)
    acc = MemberAccumulator()
    for net in nets:
        for f in _flips(x.ndim, tta):
            xf = x.flip(f) if f else x
            logits = net(xf).float() if whole else sliding_window(net, xf, plan.patch_size, k, overlap)
            p = logits.softmax(dim=1)
            del logits  # keep at most two (K, *S) maps alive besides the sum
            acc.add((p.flip(f) if f else p)[0])
            del p
    mean = acc.mean()
    return MemberMean(crop(mean.probs[None], pads)[0], crop(mean.any_foreground[None, None], pads)[0, 0],
                      mean.members)


@torch.no_grad()
def infer_probs(
    models: torch.nn.Module | Sequence[torch.nn.Module],
    image: torch.Tensor,
    plan: Plan,
    *,
    tta: bool = False,
    overlap: float = 0.5,
) -> torch.Tensor:
    """Softmax probabilities ``(K, *S)`` for one normalised image ``(C, *S)`` on the models' device.

    The mean over every member (``tta`` flips x ``models``) of :func:`infer_members`.
    """
    return infer_members(models, image, plan, tta=tta, overlap=overlap).probs
