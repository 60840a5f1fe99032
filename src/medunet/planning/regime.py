"""The training recipe per data regime: small or rare foreground gets lesion sampling and more
foreground patches.

>>> REGIMES["small_structures"]["sampling"]
'lesion'
"""

from __future__ import annotations

from typing import Any

from medunet.config import Config
from medunet.data.fingerprint import DatasetFingerprint

#: one table of every regime's settings, retuned after measurement
REGIMES: dict[str, dict[str, Any]] = {
    "default": {"sampling": "pixel", "foreground_fraction": 0.33, "loss": "dice_ce",
                "deep_supervision": False, "context_slices": 0},
    "small_structures": {"sampling": "lesion", "foreground_fraction": 0.5, "loss": "dice_ce",
                         "deep_supervision": False, "context_slices": 1},
}
#: a foreground class below this share of the training pixels is a small structure
SMALL_CLASS_FRACTION = 0.01
#: fewer training cases than this share with foreground makes foreground rare
RARE_CASE_SHARE = 0.5


def choose_regime(fingerprint: DatasetFingerprint) -> str:
    """``"small_structures"`` when a foreground class covers under ``SMALL_CLASS_FRACTION`` of the
    training pixels or under ``RARE_CASE_SHARE`` of the training cases have foreground, else
    ``"default"``.

    Parameters
    ----------
    fingerprint : DatasetFingerprint
        Of the training cases.

    Returns
    -------
    str
        A key of :data:`REGIMES`.
    """
    fractions = fingerprint.class_fractions
    small = any(f < SMALL_CLASS_FRACTION for f in fractions.values())
    rare = fingerprint.foreground_case_share < RARE_CASE_SHARE
    return "small_structures" if small or rare else "default"


def recipe(regime: str, config: Config) -> dict[str, Any]:
    """The regime's settings with the values the config sets explicitly winning.

    ``train.sampling`` and ``train.loss`` other than ``"auto"``, ``train.foreground_fraction``
    and ``train.deep_supervision`` other than ``None`` are explicit.

    Parameters
    ----------
    regime : str
        A key of :data:`REGIMES`.
    config : Config

    Returns
    -------
    dict
        ``sampling``, ``foreground_fraction``, ``loss`` and ``deep_supervision``.
    """
    out = {k: v for k, v in REGIMES[regime].items() if k != "context_slices"}  # planned apart
    t = config.train
    if t.sampling != "auto":
        out["sampling"] = t.sampling
    if t.loss != "auto":
        out["loss"] = t.loss
    if t.foreground_fraction is not None:
        out["foreground_fraction"] = float(t.foreground_fraction)
    if t.deep_supervision is not None:
        out["deep_supervision"] = bool(t.deep_supervision)
    return out
