"""Shared pieces of ``benchmarks/nnunet_side_by_side.py``: timing, reading results, the JSON entry.

Standard library only.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

# nnUNet_n_proc_DA: see benchmarks/README_nnunet.md ("Data-augmentation workers") for the timing
DEFAULT_N_PROC_DA = 1


# torch threads of every job, both tools: all cores (nnUNetv2_train sets torch.set_num_threads to
# the CPU count itself; medunet takes torch's default, which OMP_NUM_THREADS would lower)
THREADS = str(os.cpu_count() or 1)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` (failing loudly) with ``THREADS`` torch threads; return its wall seconds."""
    print("$", " ".join(cmd), flush=True)
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS=THREADS, MKL_NUM_THREADS=THREADS)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return round(time.perf_counter() - t0, 1)


def scores(metrics_json: Path) -> dict[str, Any]:
    """Test scores from a medunet ``metrics.json``: pooled and mean-case Dice, lesion detection."""
    m = json.loads(metrics_json.read_text())
    names = [n for v, n in m["labels"].items() if v != "0"]
    mc = m["mean_case"]
    out: dict[str, Any] = {
        "test_pooled_foreground_dice": m["pooled"]["foreground_dice"],
        "test_mean_case_foreground_dice": mc["foreground_dice"]["mean"],
        "test_mean_case_foreground_dice_present": mc.get("foreground_dice_present", {}).get("mean"),
        "test_pooled_dice_per_class": {n: m["pooled"]["per_class"][n]["dice"] for n in names},
    }
    lesions = (m.get("lesions") or {}).get("pooled") or {}
    out["test_lesions"] = {n: {k: lesions[n].get(k) for k in ("tp", "fp", "fn", "sensitivity", "precision",
                                                             "f1", "fp_per_case")}
                           for n in names if n in lesions}
    return out


def medunet_progress(run: Path, python: Path) -> dict[str, Any]:
    """Epochs (``log.csv`` rows), optimiser steps and in-training seconds of a medunet run.

    ``python`` is the medunet venv's interpreter: the step count is in ``last.pt`` (torch).
    """
    with (run / "log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    code = ("import sys, json, torch; s = torch.load(sys.argv[1], map_location='cpu', weights_only=False)"
            "['state']; print(json.dumps({'step': s['step'], 'elapsed': s['elapsed']}))")
    state = json.loads(subprocess.run([str(python), "-c", code, str(run / "last.pt")], check=True,
                                      capture_output=True, text=True,
                                      env=dict(os.environ, OMP_NUM_THREADS="1")).stdout)
    plan = json.loads((run / "plan.json").read_text())
    return {"epochs": len(rows), "steps": state["step"], "train_seconds_in_budget": round(state["elapsed"], 1),
            "batch_size": plan.get("batch_size"), "patch_size": plan.get("patch_size")}


def nnunet_progress(fold: Path) -> dict[str, Any]:
    """Epochs, iterations and seconds of an nnU-Net fold, from the trainer's ``timebudget.json``."""
    b = json.loads((fold / "timebudget.json").read_text())
    per_epoch = [s / b["num_iterations_per_epoch"] for s in b["train_iter_seconds"]]
    steady = per_epoch[1:] or per_epoch
    return {"epochs": b["epochs_done"], "epochs_planned": b["num_epochs_planned"],
            "steps": b["epochs_done"] * b["num_iterations_per_epoch"],
            "iterations_per_epoch": b["num_iterations_per_epoch"],
            "train_seconds_in_budget": round(b["train_seconds"], 1),
            "first_epoch_seconds": round(b["first_epoch_seconds"], 1),
            "seconds_per_train_iteration": round(b["seconds_per_train_iteration"], 3),
            "seconds_per_train_iteration_after_epoch0": round(statistics.median(steady), 3),
            "batch_size": b["batch_size"], "patch_size": b["patch_size"], "stop": b["stop"],
            "smoke": b["smoke"]}


def only_masks(pred: Path, out: Path) -> Path:
    """Copy the ``.png`` masks of an nnU-Net prediction folder (it also holds JSON files) to ``out``."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for p in sorted(pred.glob("*.png")):
        shutil.copyfile(p, out / p.name)
    return out


def _cmd_out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        return f"unavailable ({e})"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(nnunet_venv: Path, medunet: Path) -> dict[str, str]:
    """Versions of both tools and their torch, and the medunet commit."""
    nn_py = str(nnunet_venv / "bin" / "python")
    probe = ("import importlib.metadata as m, torch; print(m.version('nnunetv2'), torch.__version__, "
             "torch.get_num_threads())")
    nn = _cmd_out([nn_py, "-c", probe]).split()
    md_py = str(medunet.parent / "python")
    mdv = _cmd_out([md_py, "-c", "import importlib.metadata as m, torch; "
                    "print(m.version('medunet'), torch.__version__)"]).split()
    repo = Path(__file__).resolve().parent.parent
    return {"nnunetv2": nn[0] if len(nn) == 3 else " ".join(nn), "nnunet_torch": nn[1] if len(nn) == 3 else "",
            "medunet": mdv[0] if len(mdv) == 2 else " ".join(mdv), "medunet_torch": mdv[1] if len(mdv) == 2 else "",
            "medunet_commit": _cmd_out(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]),
            "medunet_uncommitted_src_changes": bool(_cmd_out(["git", "-C", str(repo), "status",
                                                              "--porcelain", "--", "src"]))}


def entry_header(old: dict[str, Any], args: Any) -> dict[str, Any]:
    """The label's entry with fresh machine, version and setting fields; measured datasets kept."""
    mem = _cmd_out(["sh", "-c", "awk '/MemTotal/ {print $2}' /proc/meminfo"])
    entry = dict(old) | {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "budget_minutes": args.budget, "smoke": bool(args.smoke),
        "smoke_note": (f"SMOKE RUN: nnU-Net epochs of {args.smoke_iters} training iterations instead "
                       "of 250; pipeline check only, not a comparison") if args.smoke else None,
        "nnUNet_n_proc_DA": args.n_proc_da, "torch_threads": int(THREADS),
        "nnunet_epoch_rounding": args.epoch_rounding,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "memory_gb": round(int(mem) / 2**20, 1) if mem.isdigit() else None,
                    "python": platform.python_version()},
        "versions": versions(args.nnunet_venv, args.medunet),
    }
    entry.setdefault("datasets", {})
    return entry


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write the whole results document (all labels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def table(entry: dict[str, Any]) -> str:
    """Markdown table of one label's runs."""
    lines = ["| dataset | tool | seed | train s (wall) | epochs | steps | pooled fg Dice | mean-case fg Dice "
             "| lesion sens. | lesion prec. |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, slot in entry["datasets"].items():
        for tool in ("medunet", "nnunet"):
            for r in slot.get(tool, {}).get("runs", []):
                les = list(r.get("test_lesions", {}).values())
                sens = statistics.fmean(x["sensitivity"] for x in les) if les else None
                prec = statistics.fmean(x["precision"] for x in les) if les else None
                lines.append(f"| {name} | {tool} | {r['seed']} | {r['train_wall_seconds']:.0f} | {r['epochs']} | "
                             f"{r['steps']} | {_fmt(r['test_pooled_foreground_dice'])} | "
                             f"{_fmt(r['test_mean_case_foreground_dice'])} | {_fmt(sens, '.2f')} | "
                             f"{_fmt(prec, '.2f')} |")
    return "\n".join(lines)
