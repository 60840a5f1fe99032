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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CaseSummary",
    "Stat",
    "confusion_matrix",
    "pixel_metrics",
    "pooled_counts",
    "case_metrics",
    "summarise_cases",
]

_S = TypeVar("_S", bound="Stat")


@dataclass(frozen=True)
class Stat:
    """Mean and population standard deviation of a value over ``n`` cases.

    ``mean`` and ``std`` are ``None`` when ``n == 0`` (e.g. no case contains the class).
    """

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls: type[_S], values: ArrayLike) -> _S:
        """The statistics of ``values`` (one per case)."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.size == 0:
            return cls(None, None, 0)
        return cls(float(arr.mean()), float(arr.std()), int(arr.size))

    def to_dict(self) -> dict[str, float | int | None]:
        """``{"mean", "std", "n"}`` (``metrics.json``)."""
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass(frozen=True)
class CaseSummary:
    """Per-case values summarised over cases (see :func:`summarise_cases`).

    ``dice``, ``iou`` and ``dice_present`` map each class name to its :class:`Stat`; the
    foreground Dice entries are ``None`` when there is no foreground class.
    """

    accuracy: Stat
    dice: Mapping[str, Stat]
    iou: Mapping[str, Stat]
    dice_present: Mapping[str, Stat]
    foreground_dice: Stat | None = None
    foreground_dice_present: Stat | None = None

    def to_dict(self) -> dict[str, object]:
        """The ``mean_case`` block of ``metrics.json`` (without boundary distances)."""
        out: dict[str, object] = {
            "accuracy": self.accuracy.to_dict(),
            **{key: {n: s.to_dict() for n, s in per_class.items()}
               for key, per_class in (("dice", self.dice), ("iou", self.iou),
                                      ("dice_present", self.dice_present))},
        }
        for key, stat in (("foreground_dice", self.foreground_dice),
                          ("foreground_dice_present", self.foreground_dice_present)):
            if stat is not None:
                out[key] = stat.to_dict()
        return out


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


def pooled_counts(matrices: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
    """The sum of per-case ``(K, K)`` confusion matrices: every pixel of every case counted
    together (zeros without cases)."""
    if not len(matrices):
        return np.zeros((num_classes, num_classes), np.int64)
    return np.sum(matrices, axis=0)


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


def summarise_cases(
    cases: Sequence[Mapping[str, np.ndarray | float]], names: Sequence[str]
) -> CaseSummary:
    """Mean and standard deviation over cases (the headline a paper quotes).

    Parameters
    ----------
    cases : sequence of dict
        Outputs of :func:`case_metrics`.
    names : sequence of str
        Class names, background first.

    Returns
    -------
    CaseSummary
        ``dice``, ``iou``, ``dice_present`` per class as :class:`Stat`; the foreground Dice
        (mean over foreground classes per case, then over cases) both plainly and over
        present classes only; and the mean case accuracy.

    Examples
    --------
    >>> s = summarise_cases([case_metrics(np.array([[2, 1], [1, 1]]))], ["bg", "fg"])
    >>> s.dice["fg"], s.foreground_dice_present.mean
    (Stat(mean=0.5, std=0.0, n=1), 0.5)
    """
    k = len(names)
    dice = np.array([np.asarray(c["dice"]) for c in cases]).reshape(-1, k)
    iou = np.array([np.asarray(c["iou"]) for c in cases]).reshape(-1, k)
    present = np.array([np.asarray(c["present"]) for c in cases]).reshape(-1, k)
    acc = np.array([float(np.asarray(c["accuracy"])) for c in cases])
    summary = CaseSummary(
        accuracy=Stat.of(acc),
        dice={n: Stat.of(dice[:, i]) for i, n in enumerate(names)},
        iou={n: Stat.of(iou[:, i]) for i, n in enumerate(names)},
        dice_present={n: Stat.of(dice[present[:, i], i]) for i, n in enumerate(names)},
    )
    if k == 1:
        return summary
    fg = dice[:, 1:]
    fg_present = [float(fg[j][present[j, 1:]].mean()) for j in range(len(fg)) if present[j, 1:].any()]
    return replace(summary, foreground_dice=Stat.of(fg.mean(axis=1)),
                   foreground_dice_present=Stat.of(fg_present))
