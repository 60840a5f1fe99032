"""Class probabilities of one normalised image: padded whole or in sliding windows, with flip TTA."""

from __future__ import annotations

import math

import torch

from medunet.inference.sliding import crop, pad_to_multiple, sliding_window
from medunet.plan import Plan

WHOLE_IMAGE_PATCHES = 4


@torch.no_grad()
def infer_probs(
    model: torch.nn.Module,
    image: torch.Tensor,
    plan: Plan,
    *,
    tta: bool = False,
    overlap: float = 0.5,
) -> torch.Tensor:
    """Softmax probabilities ``(K, *S)`` for one normalised image ``(C, *S)`` on the model's device.

    Images up to ``WHOLE_IMAGE_PATCHES`` patches are padded to the network's divisor and
    predicted whole; larger ones go through Gaussian-blended sliding windows of the
    training patch size. ``tta`` averages over all flips of the spatial axes.
    """
    k = plan.network.num_classes
    if plan.slicewise and image.ndim == 4:
        # a 2D network on a volume: slice by slice along the first axis, restacked
        out = torch.empty((k, *image.shape[1:]), device=image.device)
        for z in range(image.shape[1]):
            out[:, z] = infer_probs(model, image[:, z], plan, tta=tta, overlap=overlap)
        return out
    x, pads = pad_to_multiple(image.unsqueeze(0), plan.network.divisor, plan.patch_size)
    whole = math.prod(x.shape[2:]) <= WHOLE_IMAGE_PATCHES * math.prod(plan.patch_size)
    flips: list[tuple[int, ...]] = [()]
    if tta:
        axes = list(range(2, x.ndim))
        flips = [tuple(a for i, a in enumerate(axes) if mask >> i & 1) for mask in range(2 ** len(axes))]
    probs: torch.Tensor | None = None
    for f in flips:
        xf = x.flip(f) if f else x
        logits = model(xf).float() if whole else sliding_window(model, xf, plan.patch_size, k, overlap)
        p = logits.softmax(dim=1)
        del logits  # keep at most two (K, *S) maps alive
        p = p.flip(f) if f else p
        probs = p if probs is None else probs.add_(p)
    assert probs is not None
    if len(flips) > 1:
        probs.div_(len(flips))
    return crop(probs, pads)[0]
