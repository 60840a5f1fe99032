"""The ``medunet`` command: one small parser function per subcommand, a {command: handler} table.

Only the standard library and :mod:`medunet.errors` load at start-up, so ``--help`` never
imports torch, NumPy or the image libraries; each handler imports what its command needs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from medunet.cli_evaluate import (
    add_compare,
    add_evaluate,
    cmd_compare,
    cmd_evaluate,
    print_headline,
)
from medunet.cli_options import DEVICES, Handler, SubParsers, add_labels, add_snap, add_tta
from medunet.cli_plan import add_plan, cmd_plan
from medunet.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, USER_ERRORS, DatasetError, error_exit

if TYPE_CHECKING:
    from medunet.config import Config

log = logging.getLogger("medunet")


# Handlers import their stage inside the function (NumPy, image libraries, torch for train,
# predict, export) so that start-up and the commands that do not need torch stay light.


def cmd_inspect(args: argparse.Namespace) -> int:
    # the data layer reads images (NumPy, PIL, SimpleITK) but never needs torch
    from medunet.data.check import inspect_dataset
    from medunet.data.labels import resolve_labels

    summary = inspect_dataset(args.data, resolve_labels(args.data, args.labels, args.label_names),
                              snap_masks=not args.no_snap_masks)
    print(summary.to_text())
    if args.json:
        Path(args.json).write_text(json.dumps(summary.to_dict(), indent=2))
    if summary.problems:
        for p in summary.problems:
            print(f"error: {p}", file=sys.stderr)
        return EXIT_BAD_INPUT
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
             "train.device": args.device, "data.labels": args.labels, "train.patience": args.patience,
             "train.plan": str(args.plan) if args.plan else None,
             "train.folds": args.folds,
             "data.snap_masks": False if args.no_snap_masks else None}
    sets += [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    return cfg.override(sets + list(args.set or []))


def cmd_train(args: argparse.Namespace) -> int:
    from medunet.training import stop_message, train
    from medunet.training.progress import progress_callbacks

    cfg = _train_config(args)
    with progress_callbacks(enabled=not args.quiet) as callbacks:
        result = train(cfg, resume=args.resume, overwrite=args.overwrite, callbacks=callbacks)
    if result.stopped == "interrupted":  # a --folds run: the interrupted fold's last.pt
        saved = result.folds[-1].run_dir if cfg.train.folds > 1 else result.run_dir  # type: ignore[attr-defined]
        print(f"interrupted: progress saved in {saved / 'last.pt'}; continue with\n"
              f"  medunet train {args.data} --out {result.run_dir} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if cfg.train.folds > 1:  # a FoldsResult: the cross-validation estimate
        print(f"{result.headline()}  ({result.seconds / 60:.1f} min)")  # type: ignore[attr-defined]
    else:
        print(f"{stop_message(result.stopped, cfg.train.patience)}: best epoch {result.best_epoch}, "
              f"validation foreground Dice {result.best_metric:.4f} ({result.seconds / 60:.1f} min)")
    print(f"run: {result.run_dir}  report: {result.run_dir / 'report.html'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from medunet.inference.predictor import predict

    written = predict(args.run, args.input, args.out, tta=args.tta, probabilities=args.probabilities,
                      overlays=args.overlays, uncertainty=args.uncertainty, device=args.device,
                      output_format=args.format)
    extra = "" if args.format == "mask" else f" (and each as {args.format})"
    print(f"wrote {len(written)} mask(s){extra} to {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from medunet.export import BundleResult, export_model

    extra = {"onnx": args.with_onnx} if args.format == "bundle" else {}
    res = export_model(args.run, args.out, format=args.format, checkpoint=args.checkpoint,
                       opset=args.opset, **extra)
    if isinstance(res, BundleResult):
        parity = ("" if res.onnx_max_abs_diff is None else
                  f"; embedded ONNX parity max |logit difference| {res.onnx_max_abs_diff:.2e}")
        print(f"wrote {res.model} ({len(res.entries)} entries){parity}")
        return 0
    print(f"wrote {res.model} and {res.sidecar.name} (opset {res.opset}); parity with PyTorch: "
          f"max |logit difference| {res.max_abs_diff:.2e}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from medunet.demo import run_demo
    from medunet.training.progress import progress_callbacks

    with progress_callbacks(enabled=not args.quiet) as callbacks:
        result = run_demo(args.out, time_budget=args.time_budget, callbacks=callbacks)
    print_headline(result.evaluation.document())
    print(f"report: {result.report}")
    return 0


def _add_inspect(sub: SubParsers) -> None:
    p = sub.add_parser("inspect", help="summarise and validate a dataset folder")
    p.add_argument("data", type=Path, help="dataset folder")
    add_labels(p)
    add_snap(p)
    p.add_argument("--json", type=Path, help="also write the summary as JSON to this file")


def _add_train(sub: SubParsers) -> None:
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
    p.add_argument("--device", choices=DEVICES)  # no default: the config's train.device decides
    p.add_argument("--folds", type=int, metavar="K",
                   help="K-fold cross-validation over train+val (whole groups per fold) into "
                        "RUN/fold_<k>/; predict and evaluate RUN ensemble the K models")
    add_labels(p, names=False)
    add_snap(p)
    p.add_argument("--config", type=Path, help="JSON (or YAML) config file")
    p.add_argument("--plan", type=Path, metavar="FILE",
                   help="train with this plan (medunet plan DATA --out FILE) instead of planning")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field, e.g. --set model.base_width=32 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_predict(sub: SubParsers) -> None:
    p = sub.add_parser("predict", help="segment images with a trained run, a .medunet bundle or an "
                                       "exported .onnx model")
    p.add_argument("run", type=Path, help="run folder, a .pt checkpoint, a .medunet bundle, or an "
                                          "exported .onnx model (run with onnxruntime)")
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    add_tta(p)
    p.add_argument("--probabilities", action="store_true", help="also write <stem>_probs.npz")
    p.add_argument("--overlays", action="store_true", help="also write <stem>_overlay.png")
    p.add_argument("--uncertainty", action="store_true",
                   help="also write <stem>_uncertainty.<ext> (entropy over the TTA flips, 0..1)")
    p.add_argument("--format", default="mask", choices=["mask", "dicom-seg", "seg-nrrd"],
                   help="also write each case as a DICOM Segmentation referencing its DICOM series "
                        "(dicom-seg; pip install 'medunet[dicom]') or a 3D Slicer .seg.nrrd")
    p.add_argument("--device", default="auto", choices=DEVICES)


def _add_export(sub: SubParsers) -> None:
    p = sub.add_parser("export", help="export a run's model to ONNX or a one-file .medunet bundle "
                                      "(checked against PyTorch)")
    p.add_argument("run", type=Path, help="run folder (or a .pt checkpoint)")
    p.add_argument("--format", default="onnx",
                   help="onnx (+ model.onnx.json sidecar) or bundle (one .medunet archive that "
                        "predict and evaluate take like a run folder)")
    p.add_argument("--out", type=Path, required=True, help="file to write, e.g. model.onnx or "
                                                           "model.medunet")
    p.add_argument("--with-onnx", action="store_true", help="bundle: also embed the ONNX graph")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")


def _add_demo(sub: SubParsers) -> None:
    p = sub.add_parser("demo", help="train and evaluate on the bundled sample dataset")
    p.add_argument("--out", type=Path, default=Path("medunet-demo"), help="output folder")
    p.add_argument("--time-budget", type=float, default=2.5, metavar="MINUTES",
                   help="training time (default 2.5)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


#: subcommand -> (parser function, handler), in the order ``medunet --help`` lists them
COMMANDS: dict[str, tuple[Callable[[SubParsers], None], Handler]] = {
    "inspect": (_add_inspect, cmd_inspect),
    "plan": (add_plan, cmd_plan),
    "evaluate": (add_evaluate, cmd_evaluate),
    "compare": (add_compare, cmd_compare),
    "train": (_add_train, cmd_train),
    "predict": (_add_predict, cmd_predict),
    "export": (_add_export, cmd_export),
    "demo": (_add_demo, cmd_demo),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``medunet`` parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="medunet", description="Train U-Nets for medical image segmentation and report how good they are."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser, _ in COMMANDS.values():
        add_parser(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run ``handler``; an error users can act on becomes one line on stderr and an exit code."""
    try:
        return handler(args)
    except USER_ERRORS as exc:
        # --verbose shows the traceback, except where the lines say it all (problems, Ctrl-C)
        if args.verbose and not isinstance(exc, DatasetError | KeyboardInterrupt):
            raise
        code, lines = error_exit(exc)
        for line in lines:
            print(line, file=sys.stderr)
        return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code: 0 ok, 2 bad input (also out of memory or a full disk),
    3 training diverged (non-finite losses), 130 interrupted (progress saved). Usage errors (unknown
    options, bad values) exit with 2 through ``SystemExit``, as argparse does."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    _, handler = COMMANDS[args.command]
    return _run(handler, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
