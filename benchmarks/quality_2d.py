"""Segmentation quality of the default settings under a time budget, over several seeds.

For every dataset and seed the script runs the real CLI, one job at a time (the machine's cores
belong to one training run; anything else running in parallel takes epochs away from a
time-budgeted run)::

    medunet train DATA --out RUN --time-budget B --seed S --quiet [--set ...]
    medunet evaluate RUN --data DATA --split test --out RUN_test

(``--reuse`` skips the training of runs that exist and only evaluates them again), and reads
back ``RUN_test/metrics.json`` (test mean-over-cases foreground Dice, pooled Dice, per-class and
per-case Dice) and ``RUN/log.csv`` (epochs run). Results are merged into
``benchmarks/results/quality_2d.json`` under ``--label`` (earlier labels are kept), and a
markdown table is printed.

Usage::

    python benchmarks/quality_2d.py --datasets colin27_brain mni152_tissue --seeds 0 1 2 \\
        [--budget 10] [--data-root ../shared/data] [--work runs/quality] [--label NAME] \\
        [--set key=value ...] [--reuse]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "quality_2d.json"


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def _foreground_mean(case: dict[str, Any], names: list[str]) -> float:
    return statistics.fmean(case["dice"][n] for n in names)


def one_run(data: Path, seed: int, budget: float, work: Path, overrides: list[str],
            reuse: bool = False) -> dict[str, Any]:
    """Train and evaluate once (or, with ``reuse``, read a finished run); return its numbers."""
    run = work / f"{data.name}_seed{seed}"
    report = work / f"{data.name}_seed{seed}_test"
    medunet = [sys.executable, "-m", "medunet"]
    sets = [arg for kv in overrides for arg in ("--set", kv)]
    started = time.perf_counter()
    trained = None
    if not (reuse and (run / "best.pt").is_file()):
        _run([*medunet, "train", str(data), "--out", str(run), "--time-budget", str(budget),
              "--seed", str(seed), "--quiet", "--overwrite", *sets])
        trained = round(time.perf_counter() - started, 1)
    _run([*medunet, "evaluate", str(run), "--data", str(data), "--split", "test", "--out", str(report)])
    metrics = json.loads((report / "metrics.json").read_text())
    with (run / "log.csv").open(newline="") as f:
        epochs = sum(1 for _ in csv.DictReader(f))
    names = [n for v, n in metrics["labels"].items() if v != "0"]
    mean_case = metrics["mean_case"]
    return {
        "seed": seed,
        "epochs": epochs,
        "train_seconds": trained,
        "test_mean_case_foreground_dice": mean_case["foreground_dice"]["mean"],
        "test_mean_case_foreground_dice_std": mean_case["foreground_dice"]["std"],
        "test_pooled_foreground_dice": metrics["pooled"]["foreground_dice"],
        "test_mean_case_dice_per_class": {n: mean_case["dice"][n]["mean"] for n in names},
        "test_per_case_foreground_dice": {c["case"]: _foreground_mean(c, names)
                                          for c in metrics["per_case"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["colin27_brain", "mni152_tissue"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=10.0, help="minutes per training run")
    parser.add_argument("--data-root", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=HERE.parent / "runs" / "quality")
    parser.add_argument("--label", default="default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--reuse", action="store_true",
                        help="do not train again where WORK/<dataset>_seed<S>/best.pt exists (evaluation "
                             "always runs: it takes seconds)")
    args = parser.parse_args(argv)

    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    # datasets measured earlier under the same label are kept (one dataset per call is fine)
    entry: dict[str, Any] = results.get(args.label, {}) | {
        "budget_minutes": args.budget,
        "overrides": args.overrides,
        "machine": f"{platform.machine()}, {platform.system()}, python {platform.python_version()}",
    }
    entry.setdefault("datasets", {})
    results[args.label] = entry
    rows = []
    for name in args.datasets:
        runs = []
        for seed in args.seeds:
            runs.append(one_run(args.data_root / name, seed, args.budget, args.work, args.overrides,
                                args.reuse))
            means = [r["test_mean_case_foreground_dice"] for r in runs]
            entry["datasets"][name] = {
                "runs": runs,
                "mean_over_seeds": statistics.fmean(means),
                "min_over_seeds": min(means),
                "max_over_seeds": max(means),
            }
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        for r in runs:
            rows.append(f"| {name} | {r['seed']} | {r['epochs']} | {r['test_mean_case_foreground_dice']:.3f} "
                        f"± {r['test_mean_case_foreground_dice_std']:.3f} | "
                        f"{r['test_pooled_foreground_dice']:.3f} |")
    print("\n| dataset | seed | epochs | test fg Dice, mean over cases | pooled |\n|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
