"""Does the per-case uncertainty score rank test cases by their error?

For every dataset and seed the script trains a short run with a fixed number of epochs (not a
time budget, so a CPU run is deterministic), through the real CLI::

    medunet train DATA --out RUN --seed S --quiet --overwrite \\
        --set train.epochs=E --set train.iterations_per_epoch=I --set train.device="cpu"

then predicts ``DATA/test/images`` with flip TTA and uncertainty maps
(``Predictor.predict_files(..., tta=True, uncertainty=True)``), scores every case's mask
against its reference with :func:`medunet.evaluation.arrays.evaluate_arrays` (per-case Dice of
the foreground classes, averaged; an empty reference with an empty prediction counts as 1)
and records Spearman's rank correlation between the case uncertainty score and ``1 - Dice``
(``scipy.stats.spearmanr``). A positive rho means the score puts the worse cases first.

The runs are short: their Dice is for this ranking, not a claim about accuracy.
Results go to ``benchmarks/results/uncertainty_spearman.json`` (per dataset and seed: the
number of cases, rho, the p-value and the per-case pairs, plus the settings).

Usage::

    python benchmarks/uncertainty_spearman.py [--datasets colin27_brain dsb_nuclei brain_tumor_mr]
        [--seeds 0] [--epochs 8] [--iterations 25] [--data-root ../shared/data]
        [--work runs/uncertainty] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from medunet.data.labels import LabelSet
from medunet.evaluation.arrays import evaluate_arrays
from medunet.inference.predictor import Predictor
from medunet.io import case_stem, read_mask

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "uncertainty_spearman.json"


def _train(data: Path, run: Path, seed: int, epochs: int, iterations: int) -> float:
    """Train one run through the CLI; returns the seconds it took."""
    cmd = [sys.executable, "-m", "medunet", "train", str(data), "--out", str(run), "--seed", str(seed),
           "--quiet", "--overwrite", "--set", f"train.epochs={epochs}",
           "--set", f"train.iterations_per_epoch={iterations}", "--set", 'train.device="cpu"']
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return round(time.perf_counter() - started, 1)


def _case_dice(pred_masks: dict[str, Path], ref_dir: Path, labels: LabelSet) -> dict[str, float]:
    """Per-case Dice averaged over the foreground classes, by case id."""
    refs = {case_stem(p): p for p in sorted(ref_dir.iterdir())}
    cases = [(cid, read_mask(refs[cid])[0], read_mask(path)[0]) for cid, path in sorted(pred_masks.items())]
    doc = evaluate_arrays(cases, labels, distances=False).document()
    names = list(labels.names)[1:]
    return {row.case: float(np.mean([row.dice[n] for n in names])) for row in doc.per_case}


def one_run(data: Path, seed: int, epochs: int, iterations: int, work: Path,
            reuse: bool) -> dict[str, Any]:
    """Train (unless reused), predict the test split with uncertainty, correlate; return the numbers."""
    run = work / f"{data.name}_seed{seed}"
    trained = None
    if not (reuse and (run / "best.pt").is_file()):
        trained = _train(data, run, seed, epochs, iterations)
    predictor = Predictor.from_run(run, device="cpu")
    started = time.perf_counter()
    images = sorted((data / "test" / "images").iterdir())
    preds = predictor.predict_files(images, work / f"{data.name}_seed{seed}_test", tta=True, uncertainty=True)
    predicted = round(time.perf_counter() - started, 1)
    dice = _case_dice({p.case_id: p.mask for p in preds}, data / "test" / "masks", predictor.labels)
    pairs = [{"case": p.case_id, "uncertainty": p.uncertainty_score, "dice": dice[p.case_id]} for p in preds]
    rho, pvalue = _spearman([p["uncertainty"] for p in pairs], [1 - p["dice"] for p in pairs])
    return {
        "seed": seed,
        "epochs": epochs,
        "iterations_per_epoch": iterations,
        "n_cases": len(pairs),
        "spearman_rho": rho,
        "p_value": pvalue,
        "mean_case_dice": statistics.fmean(p["dice"] for p in pairs),
        "train_seconds": trained,
        "predict_seconds": predicted,
        "pairs": pairs,
    }


def _spearman(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    """Spearman's rho and its p-value; ``None`` where undefined (a constant input)."""
    res = spearmanr(x, y)
    rho, pvalue = float(res.statistic), float(res.pvalue)
    return (None if math.isnan(rho) else rho), (None if math.isnan(pvalue) else pvalue)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One dataset over its seeds: the mean rho, and rho over the pairs of every seed pooled."""
    rhos = [r["spearman_rho"] for r in runs if r["spearman_rho"] is not None]
    pairs = [p for r in runs for p in r["pairs"]]
    rho, pvalue = _spearman([p["uncertainty"] for p in pairs], [1 - p["dice"] for p in pairs])
    return {"seeds": [r["seed"] for r in runs], "mean_rho_over_seeds": statistics.fmean(rhos) if rhos else None,
            "pooled_n_pairs": len(pairs), "pooled_rho": rho, "pooled_p_value": pvalue}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["colin27_brain", "dsb_nuclei", "brain_tumor_mr"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=25, help="iterations per epoch")
    parser.add_argument("--data-root", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=HERE.parent / "runs" / "uncertainty")
    parser.add_argument("--reuse", action="store_true",
                        help="do not train again where WORK/<dataset>_seed<S>/best.pt exists")
    args = parser.parse_args(argv)

    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["settings"] = {
        "epochs": args.epochs, "iterations_per_epoch": args.iterations, "device": "cpu", "tta": True,
        "score": "mean normalised entropy over the voxels where any TTA member predicts foreground",
        "dice": "per case, mean over the foreground classes; empty reference and prediction = 1",
        "correlation": "scipy.stats.spearmanr(uncertainty score, 1 - Dice)",
        "machine": f"{platform.machine()}, {platform.system()}, python {platform.python_version()}",
        "note": "short fixed-epoch runs on a shared CPU: Dice values are for ranking, not accuracy claims",
    }
    datasets = results.setdefault("datasets", {})
    rows = []
    for name in args.datasets:
        runs = {r["seed"]: r for r in datasets.get(name, {}).get("runs", [])}
        for seed in args.seeds:
            r = one_run(args.data_root / name, seed, args.epochs, args.iterations, args.work, args.reuse)
            if r["train_seconds"] is None and seed in runs:  # reused: keep the training time measured
                r["train_seconds"] = runs[seed]["train_seconds"]
            runs[seed] = r
            ordered = [runs[s] for s in sorted(runs)]
            datasets[name] = {"summary": summarize(ordered), "runs": ordered}
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            rho = "n/a" if r["spearman_rho"] is None else f"{r['spearman_rho']:.3f}"
            p = "n/a" if r["p_value"] is None else f"{r['p_value']:.3g}"
            rows.append(f"| {name} | {seed} | {r['n_cases']} | {r['mean_case_dice']:.3f} | {rho} | {p} |")
    for name, entry in datasets.items():  # runs merged from earlier calls get their summary too
        datasets[name] = {"summary": summarize(entry["runs"]), "runs": entry["runs"]}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| dataset | seeds | pairs | rho, pooled over seeds | p | mean rho over seeds |\n|---|---|---|---|---|---|")
    for name, entry in datasets.items():
        sm = entry["summary"]
        print(f"| {name} | {sm['seeds']} | {sm['pooled_n_pairs']} | {sm['pooled_rho']} | "
              f"{sm['pooled_p_value']} | {sm['mean_rho_over_seeds']} |")
    print("\n| dataset | seed | test cases | mean case Dice | Spearman rho (score vs 1 - Dice) | p |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
