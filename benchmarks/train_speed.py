"""Training and inference speed: medunet's default 2D U-Net against a classic PyTorch U-Net.

Models, built in one process with the same channel widths (``Config().model``: base width,
max width, norm; depth 5; 1 input channel, 2 classes):

* ``medunet``: :class:`medunet.models.UNet` (strided-conv downsampling, LeakyReLU);
* ``reference``: the classic U-Net written below (double conv3x3 + BatchNorm + ReLU blocks,
  max-pool down, transposed-conv up, concatenation);
* ``monai``: MONAI's ``BasicUNet`` with the same features, only when ``import monai`` works.

For each model the script counts the FLOPs of one forward pass of one image (and of one
forward + backward) with ``torch.utils.flop_counter.FlopCounterMode``, then times, on a
fixed seeded batch of ``--batch`` images of ``--size`` x ``--size``:

* training: forward + cross-entropy + backward + ``AdamW.step``, ``--steps`` steps;
* inference: a ``torch.no_grad`` forward in eval mode, ``--steps`` batches.

The models are interleaved (train A, train B, ..., infer A, infer B, ...) for ``--rounds``
rounds after one warm-up step each; medians over rounds are reported, with the per-FLOP
throughput ratio medunet / reference (achieved GFLOP/s of one over the other), which
separates "does less work" from "does the work faster". Writes
``benchmarks/results/train_speed.json`` and prints a markdown table.

Usage::

    python benchmarks/train_speed.py [--rounds 5] [--steps 10] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import medunet
from medunet.config import Config
from medunet.models import UNet, UNetConfig

RESULTS = Path(__file__).resolve().parent / "results" / "train_speed.json"
DEPTH = 5
IN_CHANNELS = 1
NUM_CLASSES = 2


class DoubleConv(nn.Sequential):
    """``(conv3x3 -> BatchNorm -> ReLU) x 2``, as in the original U-Net (with padding)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


class ReferenceUNet(nn.Module):
    """The classic U-Net: max-pool down, transposed conv up, skip concatenation."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int]) -> None:
        super().__init__()
        w = list(widths)
        self.down = nn.ModuleList(DoubleConv(in_channels if i == 0 else w[i - 1], w[i]) for i in range(len(w)))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2)
                                for i in reversed(range(len(w) - 1)))
        self.dec = nn.ModuleList(DoubleConv(2 * w[i], w[i]) for i in reversed(range(len(w) - 1)))
        self.head = nn.Conv2d(w[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, block in zip(self.up, self.dec, strict=True):
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def medunet_config() -> UNetConfig:
    return UNetConfig.resolve(Config().model, in_channels=IN_CHANNELS, num_classes=NUM_CLASSES,
                              spatial_dims=2, depth=DEPTH)


def build_models() -> tuple[dict[str, nn.Module], dict[str, str]]:
    """The models to compare (same widths), and why any optional one is missing."""
    cfg = medunet_config()
    torch.manual_seed(0)
    models: dict[str, nn.Module] = {"medunet": UNet(cfg)}
    torch.manual_seed(0)
    models["reference"] = ReferenceUNet(IN_CHANNELS, NUM_CLASSES, cfg.widths)
    skipped: dict[str, str] = {}
    try:
        from monai.networks.nets import BasicUNet

        torch.manual_seed(0)
        models["monai"] = BasicUNet(spatial_dims=2, in_channels=IN_CHANNELS, out_channels=NUM_CLASSES,
                                    features=(*cfg.widths, cfg.widths[0]), norm="batch")
    except Exception as exc:  # ImportError when absent; anything else is reported, not fatal
        skipped["monai"] = f"{type(exc).__name__}: {exc}"
    return models, skipped


def count_flops(model: nn.Module, size: int, device: torch.device) -> tuple[float, float]:
    """GFLOP of one image: forward only (eval, no_grad), and forward + backward (train)."""
    x = torch.randn(1, IN_CHANNELS, size, size, device=device)
    y = torch.zeros(1, size, size, dtype=torch.long, device=device)
    model.eval()
    with FlopCounterMode(display=False) as fwd, torch.no_grad():
        model(x)
    model.train()
    with FlopCounterMode(display=False) as both:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return fwd.get_total_flops() / 1e9, both.get_total_flops() / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[Callable[[], None], Callable[[], None]]:
    """A training step (forward, loss, backward, AdamW step) and an inference step."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def infer_step() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    return train_step, infer_step


def images_per_s(step: Callable[[], None], steps: int, batch: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch / (time.perf_counter() - t0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    models, skipped = build_models()
    for m in models.values():
        m.to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, IN_CHANNELS, args.size, args.size, generator=g).to(device)
    y = torch.randint(0, NUM_CLASSES, (args.batch, args.size, args.size), generator=g).to(device)

    flops = {name: count_flops(m, args.size, device) for name, m in models.items()}
    steps = {name: make_steps(m, x, y) for name, m in models.items()}
    for train_step, infer_step in steps.values():  # warm-up: allocator, AdamW state, kernels
        train_step()
        infer_step()

    timings: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in models}
    for r in range(args.rounds):
        for phase, idx in (("train", 0), ("infer", 1)):
            for name in models:
                timings[name][phase].append(images_per_s(steps[name][idx], args.steps, args.batch, device))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{n} {t['train'][-1]:.2f}/{t['infer'][-1]:.2f} img/s" for n, t in timings.items()), flush=True)

    results: dict[str, dict[str, float]] = {}
    for name, m in models.items():
        fwd, both = flops[name]
        train, infer = statistics.median(timings[name]["train"]), statistics.median(timings[name]["infer"])
        results[name] = {
            "params_million": sum(p.numel() for p in m.parameters()) / 1e6,
            "gflop_forward_per_image": fwd,
            "gflop_train_per_image": both,
            "train_images_per_s": train,
            "infer_images_per_s": infer,
            "train_gflop_per_s": train * both,
            "infer_gflop_per_s": infer * fwd,
        }
    med, ref = results["medunet"], results["reference"]
    ratios = {
        "train_images_per_s": med["train_images_per_s"] / ref["train_images_per_s"],
        "infer_images_per_s": med["infer_images_per_s"] / ref["infer_images_per_s"],
        "train_per_flop": med["train_gflop_per_s"] / ref["train_gflop_per_s"],
        "infer_per_flop": med["infer_gflop_per_s"] / ref["infer_gflop_per_s"],
        "gflop_forward": med["gflop_forward_per_image"] / ref["gflop_forward_per_image"],
    }
    return {
        "benchmark": "train_speed",
        "settings": {"rounds": args.rounds, "steps": args.steps, "batch": args.batch, "size": args.size,
                     "threads": torch.get_num_threads(), "device": str(device), "quick": args.quick,
                     "medunet_config": asdict(medunet_config())},
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "medunet": getattr(medunet, "__version__", "unknown"),
                        "platform": platform.platform(), "processor": platform.processor(),
                        "cpu_count": os.cpu_count()},
        "models": results,
        "rounds_images_per_s": timings,
        "skipped": skipped,
        "ratio_medunet_over_reference": ratios,
    }


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"Batch {s['batch']} x 1 x {s['size']} x {s['size']}, {s['device']}, {s['threads']} threads, "
        f"median of {s['rounds']} rounds x {s['steps']} steps",
        "",
        "| model | params (M) | GFLOP/img fwd | GFLOP/img train | train img/s | infer img/s "
        "| train GFLOP/s | infer GFLOP/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["models"].items():
        lines.append(f"| {name} | {r['params_million']:.2f} | {r['gflop_forward_per_image']:.2f} "
                     f"| {r['gflop_train_per_image']:.2f} | {r['train_images_per_s']:.2f} "
                     f"| {r['infer_images_per_s']:.2f} | {r['train_gflop_per_s']:.1f} "
                     f"| {r['infer_gflop_per_s']:.1f} |")
    ratios = report["ratio_medunet_over_reference"]
    lines += ["", "medunet / reference: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())]
    for name, why in report["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median reported)")
    ap.add_argument("--steps", type=int, default=10, help="batches timed per model, phase and round")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round of 2 steps")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 1, 2
    if args.rounds < 1 or args.steps < 1:
        ap.error("--rounds and --steps must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(markdown(report))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
