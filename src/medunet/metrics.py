"""Segmentation metrics: count the confusion matrix once, then every metric is a formula.

Pooled pixel metrics (accuracy, precision, recall, F1, confusion matrix) reproduce
scikit-learn's ``confusion_matrix``, ``accuracy_score`` and
``precision_recall_fscore_support(average=None, zero_division=0)`` bit for bit, at a
fraction of the cost (one integer ``bincount`` of ``ref * K + pred``).

Empty-mask policy (per case, per class): when a class is absent from both the reference
and the prediction, its Dice and IoU for that case are 1.0 (nothing to find, nothing
found). Because that rewards predicting nothing, :func:`summarise_cases` also reports
the mean over only the cases whose reference contains the class (``dice_present``),
and model selection uses that or pooled Dice, never the plain mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "confusion_matrix",
    "pixel_metrics",
    "case_metrics",
    "summarise_cases",
]


def confusion_matrix(ref: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix ``(K, K)``, rows = reference, columns = prediction.

    Equals ``sklearn.metrics.confusion_matrix(ref.ravel(), pred.ravel(), labels=range(K))``.

    Parameters
    ----------
    ref, pred : ndarray of int, same shape
    num_classes : int
        ``K``; values must lie in ``0..K-1``.

    Raises
    ------
    ValueError
        Shapes differ or values fall outside ``0..K-1``.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    array([[1, 0],
           [1, 1]])
    """
    if ref.shape != pred.shape:
        raise ValueError(f"reference shape {ref.shape} and prediction shape {pred.shape} differ")
    k = int(num_classes)
    r = np.asarray(ref).ravel()
    p = np.asarray(pred).ravel()
    # small dtypes keep the multiply-add cheap; bincount needs non-negative ints
    work = np.int32 if k * k < 2**31 else np.int64
    idx = r.astype(work, copy=False) * k + p.astype(work, copy=False)
    if idx.size:
        lo, hi = min(int(r.min()), int(p.min())), max(int(r.max()), int(p.max()))
        if lo < 0 or hi >= k:
            raise ValueError(f"label values must lie in 0..{k - 1}, found {lo}..{hi}")
    return np.bincount(idx, minlength=k * k).astype(np.int64).reshape(k, k)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    den = den.copy()
    zero = den == 0
    den[zero] = 1
    out = num / den
    out[zero] = 0.0
    return out


def pixel_metrics(cm: np.ndarray) -> dict[str, np.ndarray | float]:
    """Every pixel metric from a confusion matrix, per class (arrays of length K).

    Returns
    -------
    dict
        ``accuracy`` (float), and per class ``precision``, ``recall``, ``f1``,
        ``support`` (reference pixels), ``dice`` (= f1), ``iou``, ``specificity``,
        ``tp``, ``fp``, ``fn``, ``tn``.
    """
    cm = np.asarray(cm, dtype=np.int64)
    n = cm.sum()
    tp = np.diag(cm)
    pred_sum = cm.sum(axis=0)
    true_sum = cm.sum(axis=1)
    fp = pred_sum - tp
    fn = true_sum - tp
    tn = n - tp - fp - fn
    precision = _divide(tp, pred_sum)
    recall = _divide(tp, true_sum)
    # scikit-learn: (1 + beta2) * tp / (beta2 * true_sum + pred_sum) in float64
    f1 = _divide(2.0 * tp.astype(np.float64), 1.0 * true_sum.astype(np.float64)
                 + pred_sum.astype(np.float64))
    iou = _divide(tp, tp + fp + fn)
    specificity = _divide(tn, tn + fp)
    accuracy = float(tp.sum() / n) if n else 0.0
    return {
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "dice": f1,
        "iou": iou,
        "specificity": specificity,
        "support": true_sum,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def case_metrics(cm: np.ndarray) -> dict[str, np.ndarray | float]:
    """Per-case metrics with the empty-mask policy: Dice = IoU = 1 when a class is absent
    from both reference and prediction.

    Returns
    -------
    dict
        ``accuracy``, and per class ``dice``, ``iou``, ``precision``, ``recall``,
        ``ref_pixels``, ``pred_pixels``, ``present`` (class in the reference).
    """
    m = pixel_metrics(cm)
    tp, fp, fn = (np.asarray(m[k]) for k in ("tp", "fp", "fn"))
    empty = (tp + fp + fn) == 0
    dice = np.where(empty, 1.0, np.asarray(m["dice"]))
    iou = np.where(empty, 1.0, np.asarray(m["iou"]))
    return {
        "accuracy": m["accuracy"],
        "dice": dice,
        "iou": iou,
        "precision": m["precision"],
        "recall": m["recall"],
        "ref_pixels": tp + fn,
        "pred_pixels": tp + fp,
        "present": (tp + fn) > 0,
    }


def _mean_std(values: np.ndarray) -> dict[str, float | int | None]:
    if values.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}


def summarise_cases(
    cases: Sequence[dict[str, np.ndarray | float]], names: Sequence[str]
) -> dict[str, object]:
    """Mean and standard deviation over cases (the headline a paper quotes).

    Parameters
    ----------
    cases : sequence of dict
        Outputs of :func:`case_metrics`.
    names : sequence of str
        Class names, background first.

    Returns
    -------
    dict
        ``dice``, ``iou``, ``dice_present`` per class as ``{"mean", "std", "n"}``; the
        foreground Dice (mean over foreground classes per case, then over cases) both
        plainly and over present classes only; and the mean case accuracy.
    """
    k = len(names)
    dice = np.array([np.asarray(c["dice"]) for c in cases]).reshape(-1, k)
    iou = np.array([np.asarray(c["iou"]) for c in cases]).reshape(-1, k)
    present = np.array([np.asarray(c["present"]) for c in cases]).reshape(-1, k)
    acc = np.array([float(np.asarray(c["accuracy"])) for c in cases])
    out: dict[str, object] = {
        "accuracy": _mean_std(acc),
        "dice": {n: _mean_std(dice[:, i]) for i, n in enumerate(names)},
        "iou": {n: _mean_std(iou[:, i]) for i, n in enumerate(names)},
        "dice_present": {n: _mean_std(dice[present[:, i], i]) for i, n in enumerate(names)},
    }
    if k > 1:
        fg = dice[:, 1:]
        out["foreground_dice"] = _mean_std(fg.mean(axis=1))
        fg_present = [float(fg[j][present[j, 1:]].mean()) for j in range(len(fg)) if present[j, 1:].any()]
        out["foreground_dice_present"] = _mean_std(np.array(fg_present))
    return out
