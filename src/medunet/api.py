"""The public Python API, mirroring the CLI one function per subcommand."""

from __future__ import annotations

import os
from collections.abc import Sequence

from medunet.engine.evaluate import Evaluation
from medunet.engine.evaluate_files import evaluate_dirs
from medunet.engine.evaluate_output import write_evaluation

PathLike = str | os.PathLike[str]


def evaluate(
    pred: PathLike,
    ref: PathLike | None = None,
    *,
    out: PathLike | None = None,
    data: PathLike | None = None,
    split: str = "test",
    labels: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
    images: PathLike | None = None,
    tta: bool = True,
    device: str = "auto",
    nsd_tolerance: float = 1.0,
) -> Evaluation:
    """Evaluate masks against masks (``pred``, ``ref``) or a trained run on a split (``pred``
    is a run folder, ``data`` a dataset); write the report into ``out`` when given.

    Examples
    --------
    >>> ev = evaluate("preds/", "refs/", out="report/")                # doctest: +SKIP
    >>> ev = evaluate("runs/brain", data="DATA", out="report/")        # doctest: +SKIP
    >>> ev.to_dict()["pooled"]["accuracy"]                              # doctest: +SKIP
    """
    if data is not None:
        if ref is not None:
            raise ValueError("evaluate: give either REF_DIR (masks against masks) or --data (a run)")
        if out is None:
            raise ValueError("evaluate: a run evaluation needs an output folder (--out)")
        from medunet.engine.assess import evaluate_run

        return evaluate_run(pred, data, out, split=split, tta=tta, device=device,
                            nsd_tolerance=nsd_tolerance)
    if ref is None:
        raise ValueError("evaluate: give PRED_DIR REF_DIR (masks against masks), "
                         "or RUN_DIR --data DATA to evaluate a trained model")
    ev = evaluate_dirs(pred, ref, labels=labels, label_names=label_names, images_dir=images,
                       nsd_tolerance=nsd_tolerance)
    if out is not None:
        write_evaluation(ev, out)
    return ev
