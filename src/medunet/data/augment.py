"""Batched augmentation as tensor operations on the training device.

Every transform takes and returns ``(image (B, C, *S), mask (B, *S))``, draws its random
numbers from one ``torch.Generator`` (reproducible, resumable) and applies per-sample
choices with masks over the batch, so a GPU never waits on CPU-side augmentation.
Masks are always resampled with nearest-neighbour interpolation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from medunet.config import AugmentConfig


def _rand(gen: torch.Generator, n: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (hi - lo) + lo


def _bcast(v: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return v.to(ref.device).view(-1, *([1] * (ref.ndim - 1)))


def random_flip(image: torch.Tensor, mask: torch.Tensor, gen: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each spatial axis with probability 0.5, independently per sample."""
    for axis in range(2, image.ndim):
        sel = _rand(gen, image.shape[0]) < 0.5
        if sel.any():
            s = sel.to(image.device)
            image = torch.where(_bcast(s, image), image.flip(axis), image)
            mask = torch.where(_bcast(s, mask), mask.flip(axis - 1), mask)
    return image, mask


def random_rot90(image: torch.Tensor, mask: torch.Tensor, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate by a multiple of 90 degrees in the first two spatial axes (square patches only)."""
    if image.shape[2] != image.shape[3]:
        return image, mask
    k = torch.randint(0, 4, (image.shape[0],), generator=gen)
    out_i, out_m = image.clone(), mask.clone()
    for turns in (1, 2, 3):
        sel = (k == turns).to(image.device)
        if sel.any():
            out_i[sel] = torch.rot90(image[sel], turns, (2, 3))
            out_m[sel] = torch.rot90(mask[sel], turns, (1, 2))
    return out_i, out_m


def _affine_matrices(n: int, dims: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    angle = _rand(gen, n, -1, 1) * math.radians(cfg.rotation_deg)
    scale = torch.exp(_rand(gen, n, math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    theta = torch.zeros(n, dims, dims + 1)
    c, s = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = c, -s, s, c
    if dims == 3:
        theta[:, 2, 2] = 1.0 / scale
    return theta


def random_affine(image: torch.Tensor, mask: torch.Tensor, cfg: AugmentConfig,
                  gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate (in-plane) and scale a random subset of the batch; masks use nearest sampling."""
    n, dims = image.shape[0], image.ndim - 2
    sel = _rand(gen, n) < cfg.p_affine
    theta = _affine_matrices(n, dims, cfg, gen)
    if not sel.any():
        return image, mask
    idx = sel.nonzero().flatten().to(image.device)
    th = theta[sel].to(image.device, image.dtype)
    grid = F.affine_grid(th, [len(idx), 1, *image.shape[2:]], align_corners=False)
    img = F.grid_sample(image[idx], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    msk = F.grid_sample(mask[idx].unsqueeze(1).to(image.dtype), grid, mode="nearest",
                        padding_mode="zeros", align_corners=False).squeeze(1).to(mask.dtype)
    image, mask = image.clone(), mask.clone()
    image[idx], mask[idx] = img, msk
    return image, mask


def random_intensity(image: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Brightness/contrast, gamma and Gaussian noise, each on a random subset of samples."""
    n = image.shape[0]
    dims = tuple(range(1, image.ndim))
    on = _bcast((_rand(gen, n) < cfg.p_intensity).float(), image)
    mult = _bcast(_rand(gen, n, 0.75, 1.25), image)
    contrast = _bcast(_rand(gen, n, 0.75, 1.25), image)
    mean = image.mean(dim=dims, keepdim=True)
    adjusted = (image - mean) * contrast + mean * mult
    image = on * adjusted + (1 - on) * image

    on = _bcast((_rand(gen, n) < cfg.p_gamma).float(), image)
    gamma = _bcast(torch.exp(_rand(gen, n, math.log(0.7), math.log(1.5))), image)
    lo = image.amin(dim=dims, keepdim=True)
    hi = image.amax(dim=dims, keepdim=True)
    rng = (hi - lo).clamp_min(1e-6)
    gammaed = ((image - lo) / rng).clamp(0, 1).pow(gamma) * rng + lo
    image = on * gammaed + (1 - on) * image

    on = _bcast((_rand(gen, n) < cfg.p_noise).float(), image)
    std = _bcast(_rand(gen, n, 0, cfg.noise_std), image)
    noise = torch.randn(image.shape, generator=gen).to(image.device)
    return image + on * std * noise


def augment_batch(image: torch.Tensor, mask: torch.Tensor, cfg: AugmentConfig,
                  gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the configured spatial then intensity augmentations to a batch.

    Parameters
    ----------
    image : Tensor, shape (B, C, *S)
    mask : Tensor, shape (B, *S), integer labels
    cfg : AugmentConfig
    gen : torch.Generator
        CPU generator; all random draws come from it (same seed, same batch).
    """
    if cfg.p_affine > 0:
        image, mask = random_affine(image, mask, cfg, gen)
    if cfg.rot90 and image.ndim == 4:
        image, mask = random_rot90(image, mask, gen)
    if cfg.flip:
        image, mask = random_flip(image, mask, gen)
    return random_intensity(image, cfg, gen), mask
