"""``medunet compare``: several prediction folders against one reference, paired case by case.

Each folder (from any tool) is evaluated against the reference folder with the same settings;
one per-case metric is then compared between the first folder (the reference method, A) and
each other one (B) with :func:`~medunet.evaluation.comparison.compare_to_reference`: paired
differences ``B - A``, a bootstrap CI of their mean, the Wilcoxon signed-rank test and wins,
ties and losses. A case whose value is undefined for a method (an HD95 with one mask empty, a
lesion F1 without lesions on either side) is left out of that pair and listed as excluded.

Metrics: ``foreground_dice`` (default; the mean Dice over the foreground classes of a case),
``dice.<class>``, ``hd95.<class>`` (lower is better), ``nsd.<class>`` and
``lesion_f1.<class>``; with one foreground class, ``dice``, ``hd95``, ``nsd`` and
``lesion_f1`` name it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from medunet.data.labels import LabelSet
from medunet.distances import DistanceSettings
from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.compare_result import Comparison
from medunet.evaluation.compare_writing import write_comparison
from medunet.evaluation.comparison import compare_to_reference
from medunet.evaluation.defaults import DEFAULT_BOOTSTRAP, DEFAULT_DISTANCE, DEFAULT_LESIONS
from medunet.evaluation.files import evaluate_dirs
from medunet.evaluation.geometry import GeometryPolicy
from medunet.evaluation.groups import GroupSpec, resolve_groups
from medunet.evaluation.intervals import BootstrapOptions
from medunet.evaluation.lesions import LesionSettings

__all__ = ["Comparison", "case_values", "compare", "method_names", "parse_metric"]

PathLike = str | os.PathLike[str]
_KINDS = ("dice", "hd95", "nsd", "lesion_f1")


def parse_metric(metric: str, names: Sequence[str]) -> tuple[str, str]:
    """``(kind, class name)`` of a metric name (class ``""`` for ``"foreground_dice"``).

    Raises
    ------
    ValueError
        An unknown metric or class, naming the choices.
    """
    if metric == "foreground_dice":
        return metric, ""
    kind, _, cls = metric.partition(".")
    fg = list(names[1:])
    if not cls and len(fg) == 1:
        cls = fg[0]
    if kind not in _KINDS or cls not in fg:
        choices = ", ".join(["foreground_dice", *(f"{k}.{c}" for k in _KINDS for c in fg)])
        raise ValueError(f"--metric {metric!r} is not a per-case metric of these labels; "
                         f"choose one of: {choices}")
    return kind, cls


def case_values(ev: Evaluation, metric: str) -> dict[str, float | None]:
    """The per-case value of ``metric`` (see the module docstring), by case id; ``None`` where
    it is undefined."""
    names = ev.labels.names
    kind, cls = parse_metric(metric, names)
    rows = ev.document().per_case
    if kind == "foreground_dice":
        return {r.case: r.foreground_dice for r in rows}
    if kind == "lesion_f1":
        if ev.lesions is None:
            raise ValueError("--metric lesion_f1 needs lesion-wise detection (drop --no-lesions)")
        label = names.index(cls)
        return {d.case_id: d.f1 for d in ev.lesions.per_case if d.label == label}
    if kind == "dice":
        return {r.case: r.dice[cls] for r in rows}
    per_case = {r.case: (r.hd95 if kind == "hd95" else r.nsd) for r in rows}
    return {cid: None if v is None else v[cls] for cid, v in per_case.items()}


def method_names(folders: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    """``names`` checked against the folders, else the folder names (with their parent's name
    when two folders share a name, else ``method1``, ``method2``, ...).

    Raises
    ------
    ValueError
        ``names`` of another length than ``folders``, or repeated names.
    """
    if names is not None:
        if len(names) != len(folders) or len(set(names)) != len(names):
            raise ValueError(f"--names: give {len(folders)} different names, one per prediction "
                             f"folder, got {list(names)}")
        return list(names)
    for candidate in ([f.name for f in folders],
                      [f"{f.parent.name}/{f.name}" for f in folders]):
        if len(set(candidate)) == len(candidate) and all(candidate):
            return candidate
    return [f"method{i + 1}" for i in range(len(folders))]


def compare(
    preds: Sequence[PathLike],
    ref: PathLike,
    *,
    out: PathLike | None = None,
    names: Sequence[str] | None = None,
    metric: str = "foreground_dice",
    labels: LabelSet | None = None,
    images: PathLike | None = None,
    distance: DistanceSettings = DEFAULT_DISTANCE,
    geometry: GeometryPolicy = "check",
    lesions: LesionSettings | None = DEFAULT_LESIONS,
    bootstrap: BootstrapOptions = DEFAULT_BOOTSTRAP,
    group_by: GroupSpec | None = None,
) -> Comparison:
    """Compare prediction folders on the cases of one reference folder.

    Parameters
    ----------
    preds : sequence of path-like
        Two or more prediction folders; the first is the reference method A of every pair.
    ref : path-like
        The reference masks (every folder must have a prediction for each of them).
    out : path-like, optional
        Writes ``compare.json``, ``compare.csv`` and ``report.html`` there.
    names : sequence of str, optional
        Method names, one per folder (default: the folder names).
    metric : str, optional
        The per-case metric compared (module docstring); default ``"foreground_dice"``.
    labels, images, distance, geometry, lesions
        As for :func:`~medunet.evaluation.files.evaluate_dirs`, the same for every folder
        (distances and lesions are computed only for a metric that needs them); ``images``
        adds overlays of the cases where the methods disagree most to the report.
    bootstrap : BootstrapOptions, optional
        Resamples, seed, method and level of the CI of each mean difference.
    group_by : str, compiled regex or mapping of str to str, optional
        Resample groups of cases (default: the ``dataset.json`` groups of the reference's
        dataset, else cases).

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        Fewer than two folders, bad ``names`` or ``metric``.
    DatasetError
        A folder whose masks do not pair with the reference, or fail to read.

    Examples
    --------
    >>> c = compare(["nnunet/", "medunet/"], "refs/", out="cmp/")  # doctest: +SKIP
    >>> c.pairs[0].wilcoxon.p_value                                # doctest: +SKIP
    """
    folders = [Path(p) for p in preds]
    if len(folders) < 2:
        raise ValueError(f"compare: give at least two prediction folders and the reference "
                         f"folder, got {len(folders)} prediction folder(s)")
    methods = method_names(folders, names)
    kind = "foreground_dice" if metric == "foreground_dice" else metric.partition(".")[0]
    evs = [evaluate_dirs(f, ref, labels=labels, images_dir=images, distance=distance,
                         distances=kind in ("hd95", "nsd"), geometry=geometry,
                         lesions=lesions if kind == "lesion_f1" else None, bootstrap=None)
           for f in folders]
    values = {m: case_values(ev, metric) for m, ev in zip(methods, evs, strict=True)}
    ids = list(values[methods[0]])
    groups = resolve_groups(ids, group_by, ref)
    pairs = compare_to_reference(
        values, groups=None if groups is None else dict(zip(ids, groups, strict=True)),
        higher_is_better=kind != "hd95", n_resamples=bootstrap.n_resamples, seed=bootstrap.seed,
        method=bootstrap.method, level=bootstrap.level)
    result = Comparison(metric, kind != "hd95", tuple(methods), tuple(folders), Path(ref),
                        values, tuple(pairs), tuple(evs))
    if out is not None:
        write_comparison(result, out)
    return result
