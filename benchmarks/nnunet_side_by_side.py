"""nnU-Net v2 and medunet side by side on the 2D sample datasets, at equal wall-clock budgets.

Every job runs alone, strictly one after another (a time-budgeted run owns the machine's cores).
For each dataset and seed:

medunet (the README's commands, default settings)::

    medunet train DATA --out RUN --time-budget B --seed S --quiet
    medunet evaluate RUN --data DATA --split test --out RUN_test
    medunet predict RUN DATA/test/images --out RUN_pred
    medunet evaluate RUN_pred DATA/test/masks --out RUN_pred_test          <- the compared numbers

nnU-Net 2.8.1 (venv from ``benchmarks/nnunet_setup.sh``, default trainer shortened to the budget by
``nnUNetTrainer_TimeBudget``, see ``benchmarks/nnunet_trainer_timebudget.py``)::

    (DATA -> nnUNet_raw/Dataset5xx_<name>, fold 0 = medunet's train/val cases; nnunet_convert.py)
    nnUNetv2_plan_and_preprocess -d ID -c 2d --verify_dataset_integrity -np N -npfp N   (once per dataset)
    nnUNetv2_train ID 2d 0 -tr nnUNetTrainer_TimeBudget -device cpu   (NNUNET_BENCH_BUDGET_MIN=B)
    nnUNetv2_predict -i imagesTs -o PRED -d ID -c 2d -f 0 -tr nnUNetTrainer_TimeBudget -device cpu
    medunet evaluate PRED DATA/test/masks --out PRED_test                  <- the compared numbers

Both tools' test predictions are scored by the same evaluator (``medunet evaluate PRED REF``).
nnU-Net has no seed option: its "seed" S is a repetition (its own results folder), while for
datasets without a ``val/`` split the seed also fixes which training cases medunet (and so, via
``splits_final.json``, nnU-Net) validates on. Results merge into
``benchmarks/results/nnunet_side_by_side.json`` under ``--label`` (other labels are kept) and a
markdown table is printed.

Usage::

    python benchmarks/nnunet_side_by_side.py --datasets colin27_brain mni152_tissue dsb_nuclei \\
        brain_tumor_mr --budget 15 --seeds 0 1 2 [--data-root /work/shared/data] \\
        [--work /work/bench/sbs] [--only nnunet|medunet] [--label NAME] [--smoke]

``--smoke`` (1-minute pipeline checks only) sets ``NNUNET_BENCH_SMOKE_ITERS`` (default 10
training iterations an epoch instead of 250) and labels the entry ``"smoke": true``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import nnunet_convert as conv  # noqa: E402
import nnunet_sbs_common as common  # noqa: E402

RESULTS = HERE / "results" / "nnunet_side_by_side.json"
TRAINER = "nnUNetTrainer_TimeBudget"


def medunet_job(args: argparse.Namespace, data: Path, seed: int) -> dict[str, Any]:
    """Train medunet for the budget, evaluate the run and its predictions on the test split."""
    base = args.work / "medunet" / f"{data.name}_seed{seed}"
    run, pred = Path(f"{base}"), Path(f"{base}_pred")
    exe = [str(args.medunet)]
    train_s = common.timed([*exe, "train", str(data), "--out", str(run), "--time-budget", str(args.budget),
                            "--seed", str(seed), "--quiet", "--overwrite"])
    common.timed([*exe, "evaluate", str(run), "--data", str(data), "--split", "test",
                  "--out", f"{base}_test"])
    predict_s = common.timed([*exe, "predict", str(run), str(data / "test" / "images"), "--out", str(pred)])
    common.timed([*exe, "evaluate", str(pred), str(data / "test" / "masks"), "--out", f"{base}_pred_test"])
    scores = common.scores(Path(f"{base}_pred_test") / "metrics.json")
    run_scores = common.scores(Path(f"{base}_test") / "metrics.json")
    return {"seed": seed, "train_wall_seconds": train_s, "predict_seconds": predict_s,
            **common.medunet_progress(run, args.medunet.parent / "python"), **scores,
            "evaluate_run_pooled_foreground_dice": run_scores["test_pooled_foreground_dice"],
            "evaluate_run_mean_case_foreground_dice": run_scores["test_mean_case_foreground_dice"]}


def nnunet_env(args: argparse.Namespace, seed: int | None) -> dict[str, str]:
    """Environment of every nnU-Net command: its three folders, the DA workers, the budget."""
    root = args.work / "nnunet"
    env = dict(os.environ, nnUNet_raw=str(root / "raw"), nnUNet_preprocessed=str(root / "preprocessed"),
               nnUNet_results=str(root / (f"results_seed{seed}" if seed is not None else "results")),
               nnUNet_n_proc_DA=str(args.n_proc_da), NNUNET_BENCH_BUDGET_MIN=str(args.budget),
               # worker pool of the final validation's export (default 8 spawned processes)
               nnUNet_def_n_proc=str(max(1, os.cpu_count() or 1)),
               PATH=f"{args.nnunet_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("NNUNET_BENCH_SMOKE_ITERS", None)
    env["NNUNET_BENCH_EPOCH_ROUNDING"] = args.epoch_rounding
    if args.smoke:
        env["NNUNET_BENCH_SMOKE_ITERS"] = str(args.smoke_iters)
    return env


def nnunet_prepare(args: argparse.Namespace, data: Path) -> float:
    """Convert ``data`` to nnU-Net's raw format and plan + preprocess it (2d); return the seconds."""
    env = nnunet_env(args, None)
    conv.convert(data, Path(env["nnUNet_raw"]))
    ident = str(conv.DATASET_IDS[data.name])
    n = str(max(1, os.cpu_count() or 1))
    return common.timed(["nnUNetv2_plan_and_preprocess", "-d", ident, "-c", "2d",
                         "--verify_dataset_integrity", "-np", n, "-npfp", n], env=env)


def nnunet_job(args: argparse.Namespace, data: Path, seed: int) -> dict[str, Any]:
    """Train nnU-Net (fold 0 = medunet's split) for the budget, predict and evaluate the test split."""
    env = nnunet_env(args, seed)
    name, ident = conv.dataset_name(data.name), str(conv.DATASET_IDS[data.name])
    train, val = conv.medunet_split(data, args.work / "medunet" / f"{data.name}_seed{seed}")
    conv.write_split(Path(env["nnUNet_preprocessed"]) / name, train, val)
    fold = Path(env["nnUNet_results"]) / name / f"{TRAINER}__nnUNetPlans__2d" / "fold_0"
    pred = args.work / "nnunet" / f"{data.name}_seed{seed}_pred"
    for old in (fold, pred):  # a repeated job starts clean (no old checkpoint, log or mask)
        shutil.rmtree(old, ignore_errors=True)
    train_s = common.timed(["nnUNetv2_train", ident, "2d", "0", "-tr", TRAINER, "-device", "cpu"], env=env)
    predict_s = common.timed(["nnUNetv2_predict", "-i", str(Path(env["nnUNet_raw"]) / name / "imagesTs"),
                              "-o", str(pred), "-d", ident, "-c", "2d", "-f", "0", "-tr", TRAINER,
                              "-device", "cpu"], env=env)
    masks = common.only_masks(pred, pred.with_name(pred.name + "_masks"))
    report = pred.with_name(pred.name + "_test")
    common.timed([str(args.medunet), "evaluate", str(masks), str(data / "test" / "masks"), "--out", str(report)])
    return {"seed": seed, "train_wall_seconds": train_s, "predict_seconds": predict_s,
            "validation_cases": sorted(val), **common.nnunet_progress(fold),
            **common.scores(report / "metrics.json")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["colin27_brain", "mni152_tissue", "dsb_nuclei",
                                                     "brain_tumor_mr"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--budget", type=float, default=15.0, help="training minutes per run, both tools")
    p.add_argument("--data-root", type=Path, default=Path("/work/shared/data"))
    p.add_argument("--work", type=Path, default=Path("/work/bench/sbs"))
    p.add_argument("--only", choices=["nnunet", "medunet"])
    p.add_argument("--label", default=None, help="results key (default: budget<B>min[_smoke])")
    p.add_argument("--smoke", action="store_true", help="pipeline check: short nnU-Net epochs")
    p.add_argument("--smoke-iters", type=int, default=10, help="with --smoke: iterations an epoch")
    p.add_argument("--n-proc-da", type=int, default=common.DEFAULT_N_PROC_DA,
                   help="nnUNet_n_proc_DA, nnU-Net's data-augmentation worker processes")
    p.add_argument("--epoch-rounding", choices=["floor", "nearest"], default="floor",
                   help="nnU-Net epochs = floor (never over the budget) or round(budget / first epoch)")
    p.add_argument("--medunet", type=Path, default=HERE.parent / ".venv" / "bin" / "medunet")
    p.add_argument("--nnunet-venv", type=Path, default=Path("/work/bench/nnunet-venv"))
    args = p.parse_args(argv)
    args.label = args.label or f"budget{args.budget:g}min" + ("_smoke" if args.smoke else "")
    args.work = args.work.resolve()
    return args


def check_trainer(venv: Path) -> None:
    """Fail unless the venv's time-budget trainer is this checkout's ``nnunet_trainer_timebudget.py``."""
    ours = (HERE / "nnunet_trainer_timebudget.py").read_bytes()
    found = list(venv.glob("lib/python*/site-packages/nnunetv2/training/nnUNetTrainer/variants/"
                           "training_length/nnUNetTrainer_TimeBudget.py"))
    if not found or found[0].read_bytes() != ours:
        raise SystemExit(f"{venv}: nnUNetTrainer_TimeBudget is missing or differs from "
                         f"{HERE / 'nnunet_trainer_timebudget.py'}: run bash benchmarks/nnunet_setup.sh {venv}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only != "medunet":
        check_trainer(args.nnunet_venv)
    tools = [args.only] if args.only else ["medunet", "nnunet"]  # medunet first: its split feeds nnU-Net's
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    entry = common.entry_header(results.get(args.label, {}), args)
    results[args.label] = entry
    for name in args.datasets:
        data = args.data_root / name
        slot = entry["datasets"].setdefault(name, {})
        if "nnunet" in tools:
            slot.setdefault("nnunet", {})["preprocess_seconds"] = nnunet_prepare(args, data)
        for seed in args.seeds:
            for tool in tools:
                job = medunet_job if tool == "medunet" else nnunet_job
                runs = slot.setdefault(tool, {}).setdefault("runs", [])
                load = round(os.getloadavg()[0], 2)  # the machine's load when the job started
                run = job(args, data, seed) | {"load_average_1min_at_start": load,
                                               "medunet_commit": entry["versions"]["medunet_commit"]}
                runs[:] = [r for r in runs if r["seed"] != seed] + [run]
                runs.sort(key=lambda r: r["seed"])
                common.write_results(RESULTS, results)
    print(common.table(entry))
    print(f"\nwrote {RESULTS} [{args.label}]")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - t0:.0f} s")
    raise SystemExit(code)
