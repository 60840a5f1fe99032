"""Evaluation speed: medunet's pooled metrics against scikit-learn on the same pixels.

Generates ``--cases`` seeded 512x512 label masks (structured blobs plus noise) for K=2 and
K=4, and times, in one process:

* ``medunet pooled``: one ``confusion_matrix`` per case, summed, then ``pixel_metrics``;
* ``medunet full``: ``evaluate_arrays(..., distances=False, lesions=None,
  bootstrap=None).to_dict()`` (pooled + per-case + mean-case pixel metrics: what
  scikit-learn's numbers correspond to);
* ``medunet full + distances``: ``evaluate_arrays(..., lesions=None, bootstrap=None).to_dict()``
  with boundary distances (HD95, ASSD, NSD per case and class), which scikit-learn does not
  compute: timed for information, no speed-up is claimed for it;
* ``medunet everything``: ``evaluate_arrays(...).to_dict()`` with every default metric on:
  distances, lesion-wise detection and bootstrap CIs (2000 resamples, BCa) of the headline
  metrics. ``everything_vs_distances`` is its median time over that of ``full + distances``
  (the budget: at most 2x);
* ``scikit-learn``: ``confusion_matrix`` + ``accuracy_score`` +
  ``precision_recall_fscore_support(average=None, zero_division=0)`` on the concatenated,
  flattened pixels (the concatenation itself is prepared once and not timed).

Each is repeated ``--repeats`` times, in rounds of all of them in turn; medians are reported.
The results must be identical (confusion matrix, accuracy, per-class precision/recall/F1,
compared with ``==``) or the script fails. Writes ``benchmarks/results/eval_speed.json`` and
prints a markdown table.

Usage::

    python benchmarks/eval_speed.py [--cases 200] [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from medunet.data import LabelSet
from medunet.evaluation.arrays import evaluate_arrays
from medunet.metrics import confusion_matrix, pixel_metrics

RESULTS = Path(__file__).resolve().parent / "results" / "eval_speed.json"


def make_cases(n: int, size: int, k: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``n`` (case_id, reference, prediction) int64 masks: blobs, a shifted and noisy copy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cases = []
    for i in range(n):
        ref = np.zeros((size, size), np.int64)
        for _ in range(int(rng.integers(2, 8))):
            cy, cx = rng.uniform(0, size, 2)
            ry, rx = rng.uniform(0.03, 0.2, 2) * size
            y0, y1 = int(max(cy - ry, 0)), int(min(cy + ry + 1, size))
            x0, x1 = int(max(cx - rx, 0)), int(min(cx + rx + 1, size))
            inside = ((yy[y0:y1, x0:x1] - cy) / ry) ** 2 + ((xx[y0:y1, x0:x1] - cx) / rx) ** 2 <= 1
            ref[y0:y1, x0:x1][inside] = rng.integers(1, k)
        pred = np.roll(ref, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
        noise = rng.random((size, size)) < 0.02
        pred[noise] = rng.integers(0, k, int(noise.sum()))
        cases.append((f"case{i:03d}", ref, pred))
    return cases


def _time(fns: dict[str, Callable[[], object]], repeats: int
          ) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Times of each function, ``repeats`` rounds of all of them in turn: load from other work
    on the machine then weighs on every function alike, which keeps their ratios fair."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    outs: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return times, outs


def run_k(k: int, n: int, size: int, repeats: int, seed: int) -> dict[str, object]:
    cases = make_cases(n, size, k, seed)
    labels = LabelSet.from_count(k)

    def medunet_pooled() -> dict[str, object]:
        cm = np.zeros((k, k), np.int64)
        for _, ref, pred in cases:
            cm += confusion_matrix(ref, pred, k)
        return {"cm": cm, **pixel_metrics(cm)}

    def medunet_full() -> dict[str, object]:
        return evaluate_arrays(cases, labels, distances=False, lesions=None,
                               bootstrap=None).to_dict()

    def medunet_distances() -> dict[str, object]:
        return evaluate_arrays(cases, labels, lesions=None, bootstrap=None).to_dict()

    def medunet_everything() -> dict[str, object]:
        return evaluate_arrays(cases, labels).to_dict()

    r = np.concatenate([c[1].ravel() for c in cases])
    p = np.concatenate([c[2].ravel() for c in cases])

    def scikit_learn() -> dict[str, object]:
        cm = sk_confusion_matrix(r, p, labels=range(k))
        acc = accuracy_score(r, p)
        prec, rec, f1, _ = precision_recall_fscore_support(
            r, p, labels=range(k), average=None, zero_division=0
        )
        return {"cm": cm, "accuracy": acc, "precision": prec, "recall": rec, "f1": f1}

    times, outs = _time({"medunet_pooled": medunet_pooled, "medunet_full": medunet_full,
                         "medunet_full_distances": medunet_distances,
                         "medunet_everything": medunet_everything, "sklearn": scikit_learn},
                        repeats)
    ours, doc, doc_dist = outs["medunet_pooled"], outs["medunet_full"], outs["medunet_full_distances"]
    doc_all, theirs = outs["medunet_everything"], outs["sklearn"]

    assert isinstance(ours, dict) and isinstance(theirs, dict) and isinstance(doc, dict)
    assert isinstance(doc_dist, dict) and doc_dist["pooled"] == doc["pooled"]
    assert isinstance(doc_all, dict) and doc_all["per_case"] == doc_dist["per_case"]
    assert "lesions" in doc_all and "confidence_intervals" in doc_all
    assert np.array_equal(ours["cm"], theirs["cm"]), "confusion matrices differ"
    assert ours["accuracy"] == theirs["accuracy"], "accuracy differs"
    for key in ("precision", "recall", "f1"):
        assert np.array_equal(ours[key], theirs[key]), f"{key} differs"
    pooled = doc["pooled"]
    assert pooled["confusion_matrix"] == theirs["cm"].tolist() and pooled["accuracy"] == theirs["accuracy"]
    for i, name in enumerate(labels.names):
        assert pooled["per_class"][name]["f1"] == theirs["f1"][i], f"full evaluation f1 differs ({name})"

    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "k": k,
        "cases": n,
        "pixels": int(r.size),
        "times_s": times,
        "median_s": med,
        "speedup_pooled": med["sklearn"] / med["medunet_pooled"],
        "speedup_full": med["sklearn"] / med["medunet_full"],
        "everything_vs_distances": med["medunet_everything"] / med["medunet_full_distances"],
        "identical": True,
    }


def machine() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def _load() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    # other work on the machine skews absolute times (both sides share it alike): record it
    load_start = _load()
    results = [run_k(k, args.cases, args.size, args.repeats, args.seed + k) for k in (2, 4)]
    doc = {
        "benchmark": "eval_speed",
        "command": f"python benchmarks/eval_speed.py --cases {args.cases} --size {args.size} "
                   f"--repeats {args.repeats} --seed {args.seed}",
        "machine": machine(),
        "load_average_1_5_15": {"start": load_start, "end": _load()},
        "size": args.size,
        "repeats": args.repeats,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")

    print(f"{args.cases} masks of {args.size}x{args.size}, median of {args.repeats} runs, "
          f"{doc['machine']['cpu_count']} CPUs ({doc['machine']['cpu']})\n")
    print("| K | pixels | scikit-learn (s) | medunet pooled (s) | speed-up | medunet full (s) "
          "| speed-up | full + distances (s) | everything (s) | everything / distances |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        m = res["median_s"]
        print(f"| {res['k']} | {res['pixels'] / 1e6:.1f} M | {m['sklearn']:.2f} | "
              f"{m['medunet_pooled']:.3f} | {res['speedup_pooled']:.0f}x | "
              f"{m['medunet_full']:.3f} | {res['speedup_full']:.0f}x | "
              f"{m['medunet_full_distances']:.2f} | {m['medunet_everything']:.2f} | "
              f"{res['everything_vs_distances']:.2f}x |")
    print(f"\nresults identical to scikit-learn: yes; wrote {args.out}")


if __name__ == "__main__":
    main()
