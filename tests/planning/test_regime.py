"""The regime from the fingerprint, its one table of settings, and explicit config winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from medunet.config import Config
from medunet.data.check import check_dataset
from medunet.data.fingerprint import DatasetFingerprint, fingerprint_cases
from medunet.data.labels import LabelSet, resolve_labels
from medunet.data.loader import read_cases
from medunet.data.split import split_cases
from medunet.plan import make_plan
from medunet.planning.regime import REGIMES, choose_regime, recipe


def _fp(label_pixels: tuple[tuple[int, int], ...], with_fg: int, n: int = 10) -> DatasetFingerprint:
    return DatasetFingerprint(shapes=((64, 64),) * n, spacings=((1.0, 1.0),) * n, channels=1,
                              intensity_min=1.0, intensity_max=2.0, channel_mean=(1.5,),
                              channel_std=(0.5,), zero_fractions=(0.0,) * n,
                              label_pixels=label_pixels, cases_with_foreground=with_fg)


def test_small_or_rare_foreground_is_small_structures() -> None:
    assert choose_regime(_fp(((0, 900), (1, 100)), 10)) == "default"
    assert choose_regime(_fp(((0, 991), (1, 9)), 10)) == "small_structures"  # 0.9 % < 1 %
    assert choose_regime(_fp(((0, 990), (1, 10)), 10)) == "default"  # exactly 1 %
    assert choose_regime(_fp(((0, 900), (1, 100)), 4)) == "small_structures"  # 4 of 10 cases
    assert choose_regime(_fp(((0, 900), (1, 100)), 5)) == "default"  # half of the cases
    # one small class among large ones is enough
    assert choose_regime(_fp(((0, 800), (1, 5), (2, 195)), 10)) == "small_structures"


def test_the_regime_table_and_explicit_config_win() -> None:
    small = make_plan(_fp(((0, 995), (1, 5)), 10), LabelSet.from_count(2), Config())
    settings = REGIMES["small_structures"]
    assert (small.regime, small.sampling, small.foreground_fraction, small.loss, small.deep_supervision) \
        == ("small_structures", settings["sampling"], settings["foreground_fraction"], settings["loss"],
            settings["deep_supervision"])
    assert (small.sampling, small.foreground_fraction) == ("lesion", 0.5)
    default = make_plan(_fp(((0, 900), (1, 100)), 10), LabelSet.from_count(2), Config())
    assert (default.regime, default.sampling, default.foreground_fraction) == ("default", "pixel", 0.33)
    cfg = Config().override(['train.sampling="pixel"', 'train.loss="tversky_ce"',
                             "train.foreground_fraction=0.9", "train.deep_supervision=true"])
    assert recipe("small_structures", cfg) == {"sampling": "pixel", "foreground_fraction": 0.9,
                                               "loss": "tversky_ce", "deep_supervision": True}
    assert recipe("small_structures", Config().override(["train.foreground_fraction=0.0"])
                  )["foreground_fraction"] == 0.0  # 0 is a value, not "unset"


EXPECTED = {"brain_tumor_mr": "small_structures", "brain_tumor_mr3d": "small_structures",
            "colin27_brain": "default", "colin27_brain3d": "default", "dsb_nuclei": "default",
            "mni152_tissue": "default", "mni152_tissue3d": "default"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_regimes_of_the_shared_datasets(shared_data: Path, name: str) -> None:
    root = str(shared_data / name)
    summary = check_dataset(root, resolve_labels(root, None, None))
    train, _ = split_cases(summary, 0.2, 0)
    assert choose_regime(fingerprint_cases(read_cases(train))) == EXPECTED[name]
