"""The metric policies a metrics document states (``metrics.json["policy"]``) in plain words."""

from __future__ import annotations

from medunet.distances import DistanceSettings
from medunet.evaluation.intervals import MIN_RELIABLE_UNITS, BootstrapOptions

__all__ = ["DISTANCE_POLICY", "POLICY", "interval_policy", "distance_policy"]

POLICY = {
    "empty_masks": "Per case and class, Dice and IoU are 1.0 when the class is absent from both "
                   "the reference and the prediction, 0.0 when it is in only one of them.",
    "present_only": "dice_present and foreground_dice_present average only over cases whose "
                    "reference contains the class, so predicting nothing is never rewarded.",
    "headline": "Pooled precision, recall and F1 are those of class 1 for binary tasks and "
                "scikit-learn's macro average over all classes otherwise.",
    "pooled_vs_mean": "Pooled metrics count every pixel of every case together (large structures "
                      "dominate); mean_case averages per-case values (each case counts once).",
}

_HD_TEXT = {"union": "HD95 is the 95th percentile of the union of both directed boundary-to-"
                     "boundary distance sets, ASSD their mean",
            "max_directed": "HD95 is the larger of the two directed 95th percentiles of the "
                            "boundary-to-boundary distances, ASSD the mean of both distance sets"}
_NSD_TEXT = {"voxel": "NSD the fraction of both boundaries within nsd_tolerance",
             "surfel": "NSD the area-weighted fraction of both surfaces (surface elements) "
                       "within nsd_tolerance"}


def distance_policy(settings: DistanceSettings) -> str:
    """The ``policy["distances"]`` text for the conventions of ``settings``."""
    return ("Per case and foreground class, in distance_unit (mm from the reference's voxel "
            f"spacing; px for 2D raster files): {_HD_TEXT[settings.hd_convention]}, "
            f"{_NSD_TEXT[settings.nsd_surface]}. Both masks empty: HD95 = ASSD = 0 and NSD = 1; "
            "exactly one empty: HD95 = ASSD = null (undefined; left out of the means and counted "
            "as 'undefined') and NSD = 0.")


DISTANCE_POLICY = distance_policy(DistanceSettings())


def interval_policy(opts: BootstrapOptions, unit: str) -> str:
    """The ``policy["confidence_intervals"]`` text for the bootstrap options and unit."""
    method = "bias-corrected and accelerated (BCa)" if opts.method == "bca" else "percentile"
    return (f"{opts.level:.0%} {method} bootstrap intervals from {opts.n_resamples} resamples "
            f"(seed {opts.seed}) of the {unit}s, drawn with replacement; pooled metrics are "
            "recomputed from the summed counts of each resample, mean-case metrics averaged. "
            f"An interval from fewer than {MIN_RELIABLE_UNITS} {unit}s is marked reliable: "
            "false: too narrow to trust.")
