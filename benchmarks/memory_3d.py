"""Peak memory of sliding-window inference on a 256^3 volume with 4 classes.

Each scenario runs in a fresh subprocess and reports its peak resident set size (ru_maxrss),
which includes the Python interpreter, torch and the model. The limit is checked: the script
exits non-zero when a scenario exceeds it.

    python benchmarks/memory_3d.py [--size 256] [--classes 4] [--limit-gb 2.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from medunet.data.labels import LabelSet
from medunet.inference.predictor import Predictor
from medunet.models import UNet, UNetConfig
from medunet.plan import Plan

size, k, dims, tta = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
torch.manual_seed(0)
torch.set_num_threads(2)
if dims == 3:
    net = UNetConfig(in_channels=1, num_classes=k, spatial_dims=3, depth=4, base_width=8, max_width=64)
    patch = (64, 64, 64)
else:
    net = UNetConfig(in_channels=1, num_classes=k, spatial_dims=2, depth=5, base_width=16, max_width=256)
    patch = (256, 256)
plan = Plan(patch, net, "zscore", (size,) * 3, (1.0, 1.0, 1.0), 3, 2)
labels = LabelSet(tuple(range(k)), tuple(f"c{i}" for i in range(k)))
pred = Predictor(UNet(net), plan, labels, torch.device("cpu"))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
vol = np.random.default_rng(0).normal(size=(1, size, size, size)).astype(np.float32)
t = time.perf_counter()
lab = pred.predict(vol, tta=tta)
secs = time.perf_counter() - t
assert lab.shape == (size,) * 3
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": peak / 1024, "before_volume_mb": base / 1024, "seconds": secs}))
"""


def run(size: int, k: int, dims: int, tta: bool) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(size), str(k), str(dims), str(int(tta))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--limit-gb", type=float, default=2.5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memory_3d.json")
    args = ap.parse_args()
    voxels = args.size**3
    rows = []
    for dims, tta, name in ((3, False, "3D network, sliding window 64^3"),
                            (2, False, "2D network, slice by slice"),
                            (2, True, "2D network, slice by slice, flip TTA")):
        r = run(args.size, args.classes, dims, tta)
        r.update(scenario=name, ok=r["peak_mb"] <= args.limit_gb * 1024)
        rows.append(r)
    doc = {"size": args.size, "classes": args.classes, "voxels": voxels, "limit_gb": args.limit_gb,
           "one_probability_map_mb": voxels * args.classes * 4 / 2**20,
           "date": time.strftime("%Y-%m-%d"), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"| scenario | peak RSS (MB) | seconds | under {args.limit_gb} GB |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['peak_mb']:.0f} | {r['seconds']:.1f} | {r['ok']} |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
