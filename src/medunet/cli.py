"""The ``medunet`` command: each subcommand parses its arguments and calls the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from medunet.data.cases import DatasetError

log = logging.getLogger("medunet")

EXIT_BAD_INPUT = 2


def _labels_arg(text: str) -> list[int]:
    from medunet.data.labels import parse_label_list

    try:
        return parse_label_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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
            print(str(p), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from medunet.engine.evaluate import evaluate_dirs, write_evaluation

    if args.ref is None:
        raise ValueError("evaluate: give PRED_DIR REF_DIR (masks against masks), "
                         "or RUN_DIR --data DATA to evaluate a trained model")
    ev = evaluate_dirs(args.pred, args.ref, labels=args.labels, label_names=args.label_names,
                       images_dir=args.images)
    paths = write_evaluation(ev, args.out)
    _print_headline(ev.to_dict())
    print(f"report: {paths['html']}")
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

    p = sub.add_parser("evaluate", help="evaluate predicted masks against reference masks")
    p.add_argument("pred", type=Path, help="folder of predicted masks (or a run folder with --data)")
    p.add_argument("ref", type=Path, nargs="?", help="folder of reference masks")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--labels", type=_labels_arg, help="declared label values, e.g. 0,1,2")
    p.add_argument("--label-names", type=_names_arg, help="comma-separated class names")
    p.add_argument("--images", type=Path, help="image folder for the overlay gallery")
    p.set_defaults(func=cmd_evaluate)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
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
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
