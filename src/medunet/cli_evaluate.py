"""The ``medunet evaluate`` and ``medunet compare`` commands: options, handlers, the headline.

Standard library only at import time; the handlers import the evaluation stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from medunet.cli_options import DEVICES, SubParsers, add_labels, add_snap, add_tta, names_arg

if TYPE_CHECKING:
    from medunet.distances import DistanceSettings
    from medunet.evaluation.document import MetricsDocument
    from medunet.evaluation.geometry import GeometryPolicy
    from medunet.evaluation.intervals import BootstrapOptions, ConfidenceInterval
    from medunet.evaluation.lesion_results import LesionSummary
    from medunet.evaluation.lesions import LesionSettings

__all__ = ["add_compare", "add_evaluate", "cmd_compare", "cmd_evaluate", "print_headline"]


class Settings(NamedTuple):
    """The metric options of ``evaluate`` and ``compare``, validated."""

    distance: DistanceSettings
    lesions: LesionSettings | None
    bootstrap: BootstrapOptions | None
    geometry: GeometryPolicy
    group_by: str | None


def _add_metric_options(p: argparse.ArgumentParser) -> None:
    """Distances, lesions, geometry and confidence intervals (``evaluate`` and ``compare``)."""
    g = p.add_argument_group("metrics")
    g.add_argument("--nsd-tolerance", type=float, default=1.0, metavar="MM",
                   help="normalised surface Dice tolerance in mm (in pixels for 2D raster masks)")
    g.add_argument("--hd-convention", default="union", choices=["union", "max_directed"],
                   help="HD95 of the union of both distance sets (default, MedPy) or the larger "
                        "directed 95th percentile (MONAI)")
    g.add_argument("--nsd-surface", default="voxel", choices=["voxel", "surfel"],
                   help="NSD over boundary voxels (default) or area-weighted surface elements")
    g.add_argument("--lesion-iou", type=float, default=0.1, metavar="IOU",
                   help="a lesion is detected when a predicted component overlaps it with IoU "
                        "above this (default 0.1)")
    g.add_argument("--min-lesion-size", type=float, default=0.0, metavar="SIZE",
                   help="drop components smaller than this (mm^3, mm^2 with a spacing; else "
                        "voxels) on both sides (default 0)")
    g.add_argument("--no-lesions", action="store_true", help="no lesion-wise detection")
    g.add_argument("--resample-to-reference", action="store_true",
                   help="resample a volume prediction on another grid onto its reference's "
                        "(nearest) instead of refusing it")
    c = p.add_argument_group("confidence intervals")
    c.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                   help="bootstrap resamples of the confidence intervals (default 2000; 0: off)")
    c.add_argument("--ci-method", default="bca", choices=["bca", "percentile"])
    c.add_argument("--ci-level", type=float, default=0.95, metavar="LEVEL")
    c.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    c.add_argument("--group-by", metavar="REGEX",
                   help=r"resample groups of cases (patients): a regex on the case ids whose "
                        r"first group names the group, e.g. '^(brain\d+)_' (default: the "
                        "'groups' of the dataset's dataset.json, else cases)")


def _settings(args: argparse.Namespace) -> Settings:
    """The validated settings of the metric options (``ValueError`` naming the option)."""
    from medunet.distances import DistanceSettings
    from medunet.evaluation.intervals import BootstrapOptions
    from medunet.evaluation.lesions import LesionSettings

    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be 0 (off) or a number of resamples, got {args.bootstrap}")
    lesions = None if args.no_lesions else LesionSettings(iou_threshold=args.lesion_iou,
                                                          min_size=args.min_lesion_size)
    bootstrap = (BootstrapOptions(args.bootstrap, args.seed, args.ci_method, args.ci_level)
                 if args.bootstrap else None)
    return Settings(DistanceSettings(args.nsd_tolerance, args.hd_convention, args.nsd_surface),
                    lesions, bootstrap, "resample" if args.resample_to_reference else "check",
                    args.group_by)


def cmd_evaluate(args: argparse.Namespace) -> int:
    # evaluation reads images (NumPy, SciPy; torch only to evaluate a run): imported on use
    from medunet.data.labels import resolve_labels
    from medunet.evaluation import evaluate

    s = _settings(args)
    labels = resolve_labels(None, args.labels, args.label_names)
    ev = evaluate(args.pred, args.ref, out=args.out, data=args.data, split=args.split,
                  labels=labels, images=args.images, tta=args.tta, device=args.device,
                  distance=s.distance, geometry=s.geometry, lesions=s.lesions,
                  bootstrap=s.bootstrap, group_by=s.group_by, uncertainty=args.uncertainty,
                  snap_masks=not args.no_snap_masks)
    print_headline(ev.document())
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from medunet.data.labels import resolve_labels
    from medunet.evaluation.compare_folders import compare

    *preds, ref = args.folders
    s = _settings(args)
    if s.bootstrap is None:
        raise ValueError("--bootstrap: compare needs resamples for the CI of the mean difference")
    c = compare(preds, ref, out=args.out, names=args.names, metric=args.metric,
                labels=resolve_labels(None, args.labels, args.label_names), images=args.images,
                distance=s.distance, geometry=s.geometry, lesions=s.lesions,
                bootstrap=s.bootstrap, group_by=s.group_by)
    for p in c.pairs:
        w = p.wilcoxon
        print(f"{p.method_b} vs {p.method_a} ({c.metric}, {p.n_cases} cases): mean difference "
              f"{_num(p.mean_difference.estimate)}{_ci(p.mean_difference)}, Wilcoxon p "
              f"{_num(w.p_value)}, wins/ties/losses {p.wins}/{p.ties}/{p.losses}")
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _ci(ci: ConfidenceInterval | None) -> str:
    """`` (95% CI low–high)``, flagged when unreliable; empty without an interval."""
    if ci is None or ci.low is None or ci.high is None:
        return ""
    flag = f", unreliable: only {ci.n_units} {ci.unit}s" if not ci.reliable else ""
    return f" ({ci.level:.0%} CI {ci.low:.4f}–{ci.high:.4f}{flag})"


def _lesion_text(name: str, s: LesionSummary) -> str:
    return (f"{name} TP {s.tp} FP {s.fp} FN {s.fn}, sensitivity {_num(s.sensitivity)}, "
            f"precision {_num(s.precision)}")


def print_headline(doc: MetricsDocument) -> None:
    """The pooled metrics, the foreground Dice with its CIs, lesion detection and the notes."""
    p, cis = doc.pooled, doc.intervals or {}
    mc = doc.mean_case.foreground_dice if doc.mean_case is not None else None
    print(f"cases: {doc.num_cases}  pooled accuracy {p.accuracy:.4f} "
          f"(background everywhere: {p.background_accuracy:.4f})  "
          f"precision {p.precision:.4f}  recall {p.recall:.4f}  F1 {p.f1:.4f}")
    if mc is not None and mc.mean is not None and mc.std is not None:
        print(f"foreground Dice: mean over cases {mc.mean:.4f} ± {mc.std:.4f}"
              f"{_ci(cis.get('mean_case.foreground_dice'))}, pooled {p.foreground_dice:.4f}"
              f"{_ci(cis.get('pooled.foreground_dice'))}")
    if doc.lesions is not None and doc.lesions.pooled:
        print("lesions: " + "; ".join(_lesion_text(doc.labels.names[s.label], s)
                                      for s in doc.lesions.pooled))
    for note in doc.notes:
        print(f"note: {note}")


def add_evaluate(sub: SubParsers) -> None:
    p = sub.add_parser("evaluate", help="evaluate predicted masks against reference masks, "
                                        "or a trained run on a dataset split")
    p.add_argument("pred", type=Path, help="folder of predicted masks, or a run folder with --data")
    p.add_argument("ref", type=Path, nargs="?", help="folder of reference masks")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--data", type=Path, help="dataset to evaluate a run on (with a run folder)")
    p.add_argument("--split", default="test", help="split of --data to evaluate (default: test)")
    add_labels(p)
    p.add_argument("--images", type=Path, help="image folder for the overlay gallery")
    add_tta(p, prefix="with a run: ")
    p.add_argument("--uncertainty", action="store_true",
                   help="with a run: also write each case's uncertainty map (entropy over the TTA "
                        "flips) and its score in metrics.csv")
    add_snap(p)
    p.add_argument("--device", default="auto", choices=DEVICES)
    _add_metric_options(p)


def add_compare(sub: SubParsers) -> None:
    p = sub.add_parser("compare", help="compare prediction folders (any tool) on the same "
                                       "reference cases: paired differences, CI, Wilcoxon")
    p.add_argument("folders", type=Path, nargs="+", metavar="FOLDER",
                   help="PRED_A PRED_B [PRED_C ...] REF: prediction folders, the first the "
                        "baseline, then the reference masks")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--names", type=names_arg, help="comma-separated method names (default: "
                                                   "the folder names)")
    p.add_argument("--metric", default="foreground_dice",
                   help="per-case metric: foreground_dice (default), dice.<class>, "
                        "hd95.<class>, nsd.<class> or lesion_f1.<class>")
    add_labels(p)
    p.add_argument("--images", type=Path, help="image folder: overlays of the cases where the "
                                               "methods disagree most")
    _add_metric_options(p)
