"""Calibration: time a few real training steps of a candidate network on the device.

The step is the training loop's: :func:`medunet.data.augment.augment_batch`, the U-Net,
:func:`medunet.losses.dice_ce_loss` (under bf16/fp16 autocast on CUDA) and an AdamW update,
on random tensors of the candidate's batch and patch.
"""

from __future__ import annotations

import math
import statistics
import time

import torch

from medunet.config import AugmentConfig
from medunet.data.augment import augment_batch
from medunet.device import is_out_of_memory
from medunet.losses import dice_ce_loss
from medunet.models import UNet, UNetConfig
from medunet.planning.ladder import Candidate


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _network(c: Candidate, device: torch.device) -> torch.nn.Module:
    cfg = UNetConfig(spatial_dims=c.spatial_dims, depth=c.depth, base_width=c.base_width,
                     max_width=c.max_width, norm=c.norm, in_channels=c.in_channels,  # type: ignore[arg-type]
                     num_classes=c.num_classes)
    return UNet(cfg).to(device).train()


def time_training_step(c: Candidate, device: str = "cpu", *, warmup: int = 1, steps: int = 3) -> float:
    """Median seconds of ``steps`` training steps of ``c`` after ``warmup`` untimed ones.

    Parameters
    ----------
    c : Candidate
    device : str
        A torch device name.
    warmup, steps : int

    Returns
    -------
    float
        Seconds per step (wall clock, device synchronised); ``inf`` when the step runs out of
        memory (the candidate is then too large, whatever the estimate said).
    """
    try:
        return _time_steps(c, torch.device(device), warmup, steps)
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        return math.inf


def _time_steps(c: Candidate, dev: torch.device, warmup: int, steps: int) -> float:
    """The timing loop of :func:`time_training_step`."""
    gen = torch.Generator().manual_seed(0)
    model = _network(c, dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    amp = dev.type == "cuda"
    dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    image = torch.randn((c.batch, c.in_channels, *c.patch), generator=gen)
    mask = torch.randint(0, c.num_classes, (c.batch, *c.patch), generator=gen)
    cfg, times = AugmentConfig(), []
    for _ in range(warmup + steps):
        _sync(dev)
        t0 = time.perf_counter()
        img, msk = augment_batch(image.to(dev), mask.to(dev), cfg, gen)
        with torch.autocast(dev.type, dtype=dtype, enabled=amp):
            out = model(img)
            loss = dice_ce_loss(out[0] if isinstance(out, list | tuple) else out, msk)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(dev)
        times.append(time.perf_counter() - t0)
    del model, opt
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return float(statistics.median(times[warmup:]))
