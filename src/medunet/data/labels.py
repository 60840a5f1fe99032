"""The label set of a task: declared (CLI / dataset.json) or discovered from the masks."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        """Number of classes ``K``, background included."""
        return len(self.values)

    def to_dict(self) -> dict[str, str]:
        """``{"0": "background", ...}``: the JSON form (metrics documents, checkpoints)."""
        return {str(v): n for v, n in zip(self.values, self.names, strict=True)}

    @classmethod
    def from_count(cls, k: int, declared: bool = False) -> LabelSet:
        """Labels ``0..k-1`` named ``background, class_1, ...``."""
        names = ("background",) + tuple(f"class_{i}" for i in range(1, k))
        return cls(tuple(range(k)), names, declared)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, str]) -> LabelSet:
        """The inverse of :meth:`to_dict` (a checkpoint's or an ONNX sidecar's ``labels``); declared."""
        return cls(tuple(int(v) for v in mapping), tuple(mapping.values()), declared=True)

    @classmethod
    def from_values(cls, values: Sequence[int], names: Sequence[str] | None = None) -> LabelSet:
        """A declared label set from user input (``--labels 0,1,2``, ``data.labels``).

        Parameters
        ----------
        values : sequence of int
            Label values in any order (duplicates are dropped); they must form ``0..K-1``.
        names : sequence of str, optional
            A name per value, in ascending value order (default ``background, class_1, ...``).

        Raises
        ------
        ValueError
            More than :data:`MAX_CLASSES` values, a gap in the values, or a names count that
            differs from the values count.

        Examples
        --------
        >>> LabelSet.from_values([1, 0], ["bg", "cell"]).to_dict()
        {'0': 'bg', '1': 'cell'}
        """
        vals = sorted(set(int(v) for v in values))
        if len(vals) > MAX_CLASSES:
            raise ValueError(f"--labels: {len(vals)} labels; at most {MAX_CLASSES} are supported")
        nm = tuple(names) if names else cls.from_count(len(vals)).names
        return cls(tuple(vals), nm, declared=True)


def parse_label_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` with a clear error."""
    try:
        vals = [int(t) for t in text.split(",") if t.strip() != ""]
    except ValueError as exc:
        raise ValueError(f"--labels: expected comma-separated integers like 0,1,2, got {text!r}") from exc
    return vals


def load_dataset_json(root: Path) -> dict[str, Any] | None:
    """``root/dataset.json`` as a dict, or ``None`` when there is none.

    Raises
    ------
    ValueError
        The file is not valid JSON (the message names the file).
    """
    f = root / "dataset.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{f}: not valid JSON ({exc}); fix or remove the file") from exc
    return data if isinstance(data, dict) else None


def _label_value(f: Path, name: str, value: object) -> int:
    """An nnU-Net ``labels`` value (``"tumour": 1``) as an int; region lists are refused."""
    if isinstance(value, list | tuple):
        if len(value) == 1:
            value = value[0]
        else:
            raise ValueError(f"{f}: label {name!r} is a region ({list(value)}): region-based labels "
                             "(nnU-Net's overlapping regions) are not supported yet; give every "
                             "label one value, e.g. {\"background\": 0, \"tumour\": 1}")
    if isinstance(value, bool) or not (isinstance(value, int) or str(value).isdigit()):
        raise ValueError(f"{f}: cannot read class entry {name!r}: {value!r}")
    return int(str(value))


def read_dataset_json(root: Path) -> dict[int, str] | None:
    """The ``classes``/``labels`` map of ``root/dataset.json`` as {value: name}, if present.

    Both directions are read: medunet's and the Decathlon's ``{"0": "background"}`` and
    nnU-Net v2's ``{"background": 0}``.

    Raises
    ------
    ValueError
        Invalid JSON, an unreadable entry, nnU-Net region labels (``"whole tumour": [1, 2, 3]``,
        ``regions_class_order``) or an ``ignore`` label, which medunet does not support.
    """
    f = root / "dataset.json"
    data = load_dataset_json(root)
    mapping = data.get("classes", data.get("labels")) if data is not None else None
    if data is None or mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise ValueError(f"{f}: 'classes' must map label values to names, e.g. {{\"0\": \"background\"}}")
    if "regions_class_order" in data:
        raise ValueError(f"{f}: region-based labels (regions_class_order) are not supported yet; "
                         "use a dataset.json whose labels map each class to one value")
    out: dict[int, str] = {}
    for k, v in mapping.items():
        if str(k).lstrip("-").isdigit():
            out[int(k)] = str(v)
        else:
            out[_label_value(f, str(k), v)] = str(k)
    if "ignore" in out.values():
        raise ValueError(f"{f}: the 'ignore' label (nnU-Net's unannotated pixels) is not supported; "
                         "remove it from labels and mark those pixels as background, or crop them")
    return out


def resolve_labels(
    root: str | os.PathLike[str] | None = None,
    labels: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
) -> LabelSet | None:
    """The declared label set where the user's values come in (CLI flags, the config).

    Parameters
    ----------
    root : path-like, optional
        Dataset folder whose ``dataset.json`` (``classes`` or ``labels``) declares the labels
        when ``labels`` is not given.
    labels : sequence of int, optional
        Explicit label values (``--labels``, ``data.labels``); they win over ``dataset.json``.
    names : sequence of str, optional
        Class names (``--label-names``, ``data.label_names``); they replace ``dataset.json``'s.

    Returns
    -------
    LabelSet or None
        Declared (``declared=True``), or ``None`` when nothing declares the labels (the masks
        then decide, see :func:`medunet.data.check.inspect_dataset`).

    Raises
    ------
    ValueError
        Invalid values or names, or an unreadable ``dataset.json`` (the message names the file).
    """
    if labels is not None:
        return LabelSet.from_values(labels, names)
    if root is not None:
        mapping = read_dataset_json(Path(root))
        if mapping:
            vals = sorted(mapping)
            nm = tuple(names) if names else tuple(mapping[v] for v in vals)
            return LabelSet(tuple(vals), nm, declared=True)
    if names:
        return LabelSet(tuple(range(len(names))), tuple(names), declared=True)
    return None
