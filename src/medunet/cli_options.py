"""Options several ``medunet`` subcommands share: devices, ``--labels``, ``--label-names``, ``--tta``.

Standard library only (``medunet --help`` must stay light); the label parser is imported when
``--labels`` is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["DEVICES", "Handler", "SubParsers", "add_labels", "add_snap", "add_tta", "labels_arg",
           "names_arg"]

DEVICES = ["auto", "cpu", "cuda", "mps"]

Handler = Callable[[argparse.Namespace], int]
SubParsers = argparse._SubParsersAction  # the object ``add_subparsers`` returns


def labels_arg(text: str) -> list[int]:
    """``--labels 0,1,2`` as a list of ints (argparse reports a bad value)."""
    # medunet.data.labels pulls in the data readers: imported only when --labels is given
    from medunet.data.labels import parse_label_list

    try:
        return parse_label_list(text)
    except ValueError as exc:  # argparse names the option itself
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--labels: ")) from exc


def names_arg(text: str) -> list[str]:
    """A comma-separated list of names, blanks dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


def add_labels(p: argparse.ArgumentParser, *, names: bool = True) -> None:
    """``--labels`` (and ``--label-names``)."""
    p.add_argument("--labels", type=labels_arg, help="declared label values, e.g. 0,1,2")
    if names:
        p.add_argument("--label-names", type=names_arg, help="comma-separated class names")


def add_tta(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--tta/--no-tta``, on by default."""
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True,
                   help=f"{prefix}average over all flips of the image axes (default; --no-tta is 4x "
                        "faster in 2D, 8x in 3D)")


def add_snap(p: argparse.ArgumentParser) -> None:
    """``--no-snap-masks``: refuse lossy (JPEG) masks instead of snapping them to their levels."""
    p.add_argument("--no-snap-masks", action="store_true",
                   help="refuse masks whose values smear around their levels (JPEG) instead of "
                        "snapping each pixel to the nearest level (default: snap, with a warning)")
