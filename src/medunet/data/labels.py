"""The label set of a task: declared (CLI / dataset.json) or discovered from the masks."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_CLASSES = 255


@dataclass(frozen=True)
class LabelSet:
    """Label values ``0..K-1`` and their names.

    Parameters
    ----------
    values : tuple of int
        Allowed mask values, ascending, starting at 0.
    names : tuple of str
        A name per value.
    declared : bool
        Whether the set was declared (values outside it are problems) or discovered.
    """

    values: tuple[int, ...]
    names: tuple[str, ...]
    declared: bool = True

    def __post_init__(self) -> None:
        if len(self.values) != len(self.names):
            raise ValueError(f"{len(self.values)} labels but {len(self.names)} label names")
        if len(self.values) < 2:
            raise ValueError(f"need at least 2 labels (background and one class), got {list(self.values)}")
        if list(self.values) != list(range(len(self.values))):
            raise ValueError(
                f"labels must be 0..K-1 with no gaps, got {list(self.values)}; remap the masks"
            )

    @property
    def num_classes(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict[str, str]:
        return {str(v): n for v, n in zip(self.values, self.names, strict=True)}

    @classmethod
    def from_count(cls, k: int, declared: bool = False) -> LabelSet:
        names = ("background",) + tuple(f"class_{i}" for i in range(1, k))
        return cls(tuple(range(k)), names, declared)


def parse_label_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` with a clear error."""
    try:
        vals = [int(t) for t in text.split(",") if t.strip() != ""]
    except ValueError as exc:
        raise ValueError(f"--labels: expected comma-separated integers like 0,1,2, got {text!r}") from exc
    return vals


def read_dataset_json(root: Path) -> dict[int, str] | None:
    """The ``classes``/``labels`` map of ``root/dataset.json`` as {value: name}, if present."""
    f = root / "dataset.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{f}: not valid JSON ({exc})") from exc
    mapping = data.get("classes", data.get("labels")) if isinstance(data, dict) else None
    if mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise ValueError(f"{f}: 'classes' must map label values to names, e.g. {{\"0\": \"background\"}}")
    out: dict[int, str] = {}
    for k, v in mapping.items():
        # accept {"0": "background"} and nnU-Net's {"background": 0}
        if str(k).lstrip("-").isdigit():
            out[int(k)] = str(v)
        elif isinstance(v, int) or str(v).isdigit():
            out[int(v)] = str(k)
        else:
            raise ValueError(f"{f}: cannot read class entry {k!r}: {v!r}")
    return out


def resolve_labels(
    root: str | os.PathLike[str] | None = None,
    labels: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
) -> LabelSet | None:
    """The declared label set: explicit ``labels`` first, then ``root/dataset.json``; else ``None``."""
    if labels is not None:
        vals = sorted(set(int(v) for v in labels))
        if len(vals) > MAX_CLASSES:
            raise ValueError(f"--labels: {len(vals)} labels; at most {MAX_CLASSES} are supported")
        nm = tuple(names) if names else LabelSet.from_count(len(vals)).names
        return LabelSet(tuple(vals), nm, declared=True)
    if root is not None:
        mapping = read_dataset_json(Path(root))
        if mapping:
            vals = sorted(mapping)
            nm = tuple(names) if names else tuple(mapping[v] for v in vals)
            return LabelSet(tuple(vals), nm, declared=True)
    if names:
        return LabelSet(tuple(range(len(names))), tuple(names), declared=True)
    return None
