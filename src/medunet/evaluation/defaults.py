"""The default settings of an evaluation, in one place for every entry point (API and CLI)."""

from __future__ import annotations

from medunet.distances import DistanceSettings
from medunet.evaluation.intervals import BootstrapOptions
from medunet.evaluation.lesions import LesionSettings

__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_DISTANCE", "DEFAULT_LESIONS"]

#: NSD tolerance 1 mm, HD95 of the union of both distance sets, NSD over boundary voxels
DEFAULT_DISTANCE = DistanceSettings()
#: full connectivity, IoU above 0.1 to match, no size filter
DEFAULT_LESIONS = LesionSettings()
#: 2000 resamples, seed 0, BCa, 95 %
DEFAULT_BOOTSTRAP = BootstrapOptions(n_resamples=2000, seed=0, method="bca", level=0.95)
