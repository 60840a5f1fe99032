"""The ``medunet`` command: each subcommand parses its arguments and calls the Python API."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from medunet.data.cases import DatasetError
from medunet.errors import TrainingDiverged

if TYPE_CHECKING:
    from medunet.config import Config

log = logging.getLogger("medunet")

EXIT_OK = 0
#: bad input, bad options, or an environment that cannot hold the job (out of memory, full disk)
EXIT_BAD_INPUT = 2
#: training stopped on non-finite losses; the run folder keeps the last good checkpoint
EXIT_DIVERGED = 3
#: Ctrl-C / SIGTERM: progress saved, resume possible (128 + SIGINT)
EXIT_INTERRUPTED = 130


def _labels_arg(text: str) -> list[int]:
    from medunet.data.labels import parse_label_list

    try:
        return parse_label_list(text)
    except ValueError as exc:  # argparse names the option itself
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--labels: ")) from exc


def _names_arg(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_inspect(args: argparse.Namespace) -> int:
    from medunet.data import inspect_dataset

    summary = inspect_dataset(args.data, args.labels, args.label_names)
    print(summary.to_text())
    if args.json:
        Path(args.json).write_text(json.dumps(summary.to_dict(), indent=2))
    if summary.problems:
        for p in summary.problems:
            print(f"error: {p}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from medunet.evaluation import evaluate

    ev = evaluate(args.pred, args.ref, out=args.out, data=args.data, split=args.split,
                  labels=args.labels, label_names=args.label_names, images=args.images,
                  tta=args.tta, device=args.device, nsd_tolerance=args.nsd_tolerance)
    _print_headline(ev.to_dict())
    print(f"report: {Path(args.out) / 'report.html'}")
    return 0


def _train_config(args: argparse.Namespace) -> Config:
    from medunet.config import Config

    run = Path(args.out)
    if args.config:
        cfg = Config.from_file(args.config)
    elif args.resume and (run / "config.json").is_file():
        cfg = Config.from_file(run / "config.json")
    else:
        cfg = Config()
    sets = [f"data.root={json.dumps(str(args.data))}", f"out={json.dumps(str(run))}"]
    flags = {"train.epochs": args.epochs, "train.time_budget": args.time_budget,
             "train.batch_size": args.batch_size, "train.lr": args.lr, "train.seed": args.seed,
             "train.device": args.device, "data.labels": args.labels, "train.patience": args.patience}
    sets += [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    return cfg.override(sets + list(args.set or []))


def cmd_train(args: argparse.Namespace) -> int:
    from medunet.training import train
    from medunet.training.progress import progress_callbacks

    cfg = _train_config(args)
    with progress_callbacks(enabled=not args.quiet) as callbacks:
        summary = train(cfg, resume=args.resume, overwrite=args.overwrite, callbacks=callbacks)
    if summary.stopped == "interrupted":
        print(f"interrupted: progress saved in {summary.run_dir / 'last.pt'}; continue with\n"
              f"  medunet train {args.data} --out {summary.run_dir} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{summary.stopped}: best epoch {summary.best_epoch}, validation foreground Dice "
          f"{summary.best_metric:.4f} ({summary.seconds / 60:.1f} min)")
    print(f"run: {summary.run_dir}  report: {summary.run_dir / 'report.html'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from medunet.inference.predictor import predict

    written = predict(args.run, args.input, args.out, tta=args.tta, probabilities=args.probabilities,
                      overlays=args.overlays, device=args.device)
    print(f"wrote {len(written)} mask(s) to {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from medunet.export import export_model

    res = export_model(args.run, args.out, format=args.format, checkpoint=args.checkpoint, opset=args.opset)
    print(f"wrote {res.model} and {res.sidecar.name} (opset {res.opset}); parity with PyTorch: "
          f"max |logit difference| {res.max_abs_diff:.2e}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from medunet.demo import run_demo
    from medunet.training.progress import progress_callbacks

    with progress_callbacks(enabled=not args.quiet) as callbacks:
        result = run_demo(args.out, time_budget=args.time_budget, callbacks=callbacks)
    _print_headline(result.evaluation.to_dict())
    print(f"report: {result.report}")
    return 0


def _print_headline(doc: dict) -> None:
    p = doc["pooled"]
    mc = doc.get("mean_case", {}).get("foreground_dice", {})
    print(f"cases: {doc['num_cases']}  pooled accuracy {p['accuracy']:.4f} "
          f"(background everywhere: {p['background_accuracy']:.4f})  "
          f"precision {p['precision']:.4f}  recall {p['recall']:.4f}  F1 {p['f1']:.4f}")
    if mc.get("mean") is not None:
        print(f"foreground Dice: mean over cases {mc['mean']:.4f} ± {mc['std']:.4f}, "
              f"pooled {p['foreground_dice']:.4f}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medunet", description="Train U-Nets for medical image segmentation and report how good they are."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="summarise and validate a dataset folder")
    p.add_argument("data", type=Path, help="dataset folder")
    p.add_argument("--labels", type=_labels_arg, help="declared label values, e.g. 0,1,2")
    p.add_argument("--label-names", type=_names_arg, help="comma-separated class names")
    p.add_argument("--json", type=Path, help="also write the summary as JSON to this file")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("evaluate", help="evaluate predicted masks against reference masks, "
                                        "or a trained run on a dataset split")
    p.add_argument("pred", type=Path, help="folder of predicted masks, or a run folder with --data")
    p.add_argument("ref", type=Path, nargs="?", help="folder of reference masks")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--data", type=Path, help="dataset to evaluate a run on (with a run folder)")
    p.add_argument("--split", default="test", help="split of --data to evaluate (default: test)")
    p.add_argument("--labels", type=_labels_arg, help="declared label values, e.g. 0,1,2")
    p.add_argument("--label-names", type=_names_arg, help="comma-separated class names")
    p.add_argument("--images", type=Path, help="image folder for the overlay gallery")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                   help="with a run: average over all flips of the image axes (default; --no-tta is 4x "
                        "faster in 2D, 8x in 3D)")
    p.add_argument("--nsd-tolerance", type=float, default=1.0, metavar="MM",
                   help="normalised surface Dice tolerance in mm (in pixels for 2D raster masks)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train a U-Net on a dataset folder")
    p.add_argument("data", type=Path, help="dataset folder")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--epochs", type=int, help="maximum number of epochs")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="stop cleanly after this many minutes, keeping the best model")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--seed", type=int)
    p.add_argument("--patience", type=int, metavar="N",
                   help="early stopping: stop after N validations without improvement (0: off)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--labels", type=_labels_arg, help="declared label values, e.g. 0,1,2")
    p.add_argument("--config", type=Path, help="JSON (or YAML) config file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field, e.g. --set model.base_width=32 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="segment images with a trained run or an exported .onnx model")
    p.add_argument("run", type=Path, help="run folder, a .pt checkpoint, or an exported .onnx model "
                                          "(run with onnxruntime)")
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                   help="average over all flips of the image axes (default; --no-tta is 4x faster in "
                        "2D, 8x in 3D)")
    p.add_argument("--probabilities", action="store_true", help="also write <stem>_probs.npz")
    p.add_argument("--overlays", action="store_true", help="also write <stem>_overlay.png")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a run's model to ONNX (checked against PyTorch)")
    p.add_argument("run", type=Path, help="run folder (or a .pt checkpoint)")
    p.add_argument("--format", default="onnx", help="export format (only: onnx)")
    p.add_argument("--out", type=Path, required=True, help="model file to write, e.g. model.onnx "
                                                           "(the sidecar goes to model.onnx.json)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="train and evaluate on the bundled sample dataset")
    p.add_argument("--out", type=Path, default=Path("medunet-demo"), help="output folder")
    p.add_argument("--time-budget", type=float, default=2.5, metavar="MINUTES",
                   help="training time (default 2.5)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )


def _os_error(exc: OSError) -> str:
    """One line for an OS error: the file, then the reason (``[Errno 28] ...`` is noise)."""
    if exc.filename is None:
        return str(exc)
    hint = "; free some disk space and run again" if exc.errno == errno.ENOSPC else ""
    return f"{exc.filename}: {exc.strerror or exc}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code: 0 ok, 2 bad input (also out of memory or a full disk),
    3 training diverged (non-finite losses), 130 interrupted (progress saved)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except DatasetError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrainingDiverged as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, ImportError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. a full disk: the previous files are intact (atomic writes)
        if args.verbose:
            raise
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
