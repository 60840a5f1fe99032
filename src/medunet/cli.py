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

from medunet.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, USER_ERRORS, DatasetError, error_exit

if TYPE_CHECKING:
    from medunet.config import Config
    from medunet.evaluation.document import MetricsDocument

log = logging.getLogger("medunet")

DEVICES = ["auto", "cpu", "cuda", "mps"]

Handler = Callable[[argparse.Namespace], int]
SubParsers = argparse._SubParsersAction  # the object ``add_subparsers`` returns


# Handlers import their stage inside the function (NumPy, image libraries, torch for train,
# predict, export) so that start-up and the commands that do not need torch stay light.


def cmd_inspect(args: argparse.Namespace) -> int:
    # the data layer reads images (NumPy, PIL, SimpleITK) but never needs torch
    from medunet.data.check import inspect_dataset
    from medunet.data.labels import resolve_labels

    summary = inspect_dataset(args.data, resolve_labels(args.data, args.labels, args.label_names))
    print(summary.to_text())
    if args.json:
        Path(args.json).write_text(json.dumps(summary.to_dict(), indent=2))
    if summary.problems:
        for p in summary.problems:
            print(f"error: {p}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    # evaluation reads images (NumPy, SciPy; torch only to evaluate a run): imported on use
    from medunet.data.labels import resolve_labels
    from medunet.evaluation import evaluate

    labels = resolve_labels(None, args.labels, args.label_names)
    ev = evaluate(args.pred, args.ref, out=args.out, data=args.data, split=args.split,
                  labels=labels, images=args.images, tta=args.tta, device=args.device,
                  nsd_tolerance=args.nsd_tolerance)
    _print_headline(ev.document())
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
    from medunet.training import stop_message, train
    from medunet.training.progress import progress_callbacks

    cfg = _train_config(args)
    with progress_callbacks(enabled=not args.quiet) as callbacks:
        result = train(cfg, resume=args.resume, overwrite=args.overwrite, callbacks=callbacks)
    if result.stopped == "interrupted":
        print(f"interrupted: progress saved in {result.run_dir / 'last.pt'}; continue with\n"
              f"  medunet train {args.data} --out {result.run_dir} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{stop_message(result.stopped, cfg.train.patience)}: best epoch {result.best_epoch}, "
          f"validation foreground Dice {result.best_metric:.4f} ({result.seconds / 60:.1f} min)")
    print(f"run: {result.run_dir}  report: {result.run_dir / 'report.html'}")
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
    _print_headline(result.evaluation.document())
    print(f"report: {result.report}")
    return 0


def _print_headline(doc: MetricsDocument) -> None:
    p = doc.pooled
    mc = doc.mean_case.foreground_dice if doc.mean_case is not None else None
    print(f"cases: {doc.num_cases}  pooled accuracy {p.accuracy:.4f} "
          f"(background everywhere: {p.background_accuracy:.4f})  "
          f"precision {p.precision:.4f}  recall {p.recall:.4f}  F1 {p.f1:.4f}")
    if mc is not None and mc.mean is not None and mc.std is not None:
        print(f"foreground Dice: mean over cases {mc.mean:.4f} ± {mc.std:.4f}, "
              f"pooled {p.foreground_dice:.4f}")


def _labels_arg(text: str) -> list[int]:
    # medunet.data.labels pulls in the data readers: imported only when --labels is given
    from medunet.data.labels import parse_label_list

    try:
        return parse_label_list(text)
    except ValueError as exc:  # argparse names the option itself
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--labels: ")) from exc


def _names_arg(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_labels(p: argparse.ArgumentParser, *, names: bool = True) -> None:
    """``--labels`` (and ``--label-names``)."""
    p.add_argument("--labels", type=_labels_arg, help="declared label values, e.g. 0,1,2")
    if names:
        p.add_argument("--label-names", type=_names_arg, help="comma-separated class names")


def _add_tta(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--tta/--no-tta``, on by default."""
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                   help=f"{prefix}average over all flips of the image axes (default; --no-tta is 4x "
                        "faster in 2D, 8x in 3D)")


def _add_inspect(sub: SubParsers) -> None:
    p = sub.add_parser("inspect", help="summarise and validate a dataset folder")
    p.add_argument("data", type=Path, help="dataset folder")
    _add_labels(p)
    p.add_argument("--json", type=Path, help="also write the summary as JSON to this file")


def _add_evaluate(sub: SubParsers) -> None:
    p = sub.add_parser("evaluate", help="evaluate predicted masks against reference masks, "
                                        "or a trained run on a dataset split")
    p.add_argument("pred", type=Path, help="folder of predicted masks, or a run folder with --data")
    p.add_argument("ref", type=Path, nargs="?", help="folder of reference masks")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--data", type=Path, help="dataset to evaluate a run on (with a run folder)")
    p.add_argument("--split", default="test", help="split of --data to evaluate (default: test)")
    _add_labels(p)
    p.add_argument("--images", type=Path, help="image folder for the overlay gallery")
    _add_tta(p, prefix="with a run: ")
    p.add_argument("--nsd-tolerance", type=float, default=1.0, metavar="MM",
                   help="normalised surface Dice tolerance in mm (in pixels for 2D raster masks)")
    p.add_argument("--device", default="auto", choices=DEVICES)


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
    _add_labels(p, names=False)
    p.add_argument("--config", type=Path, help="JSON (or YAML) config file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field, e.g. --set model.base_width=32 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_predict(sub: SubParsers) -> None:
    p = sub.add_parser("predict", help="segment images with a trained run or an exported .onnx model")
    p.add_argument("run", type=Path, help="run folder, a .pt checkpoint, or an exported .onnx model "
                                          "(run with onnxruntime)")
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    _add_tta(p)
    p.add_argument("--probabilities", action="store_true", help="also write <stem>_probs.npz")
    p.add_argument("--overlays", action="store_true", help="also write <stem>_overlay.png")
    p.add_argument("--device", default="auto", choices=DEVICES)


def _add_export(sub: SubParsers) -> None:
    p = sub.add_parser("export", help="export a run's model to ONNX (checked against PyTorch)")
    p.add_argument("run", type=Path, help="run folder (or a .pt checkpoint)")
    p.add_argument("--format", default="onnx", help="export format (only: onnx)")
    p.add_argument("--out", type=Path, required=True, help="model file to write, e.g. model.onnx "
                                                           "(the sidecar goes to model.onnx.json)")
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
    "evaluate": (_add_evaluate, cmd_evaluate),
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
