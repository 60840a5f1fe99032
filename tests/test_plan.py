"""Planning: the fingerprint of the training cases, and the plan made from it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from PIL import Image

from medunet.config import Config
from medunet.data.fingerprint import DatasetFingerprint, fingerprint_cases
from medunet.data.labels import LabelSet
from medunet.plan import MAX_PATCH_VOXELS_3D, Plan, make_plan
from medunet.training import train

BINARY = LabelSet.from_count(2)


def _fp(shapes: Sequence[tuple[int, ...]], spacings: Sequence[tuple[float, ...]] | None = None,
        **kw: object) -> DatasetFingerprint:
    """A fingerprint of plain positive images (no zeros, one channel) unless ``kw`` says otherwise."""
    facts: dict[str, object] = {
        "shapes": tuple(shapes), "spacings": tuple(spacings or [(1.0,) * len(shapes[0])] * len(shapes)),
        "channels": 1, "intensity_min": 1.0, "intensity_max": 200.0, "channel_mean": (90.0,),
        "channel_std": (30.0,), "zero_fractions": (0.0,) * len(shapes), "label_pixels": ((0, 90), (1, 10)),
        "cases_with_foreground": len(shapes), **kw}
    return DatasetFingerprint(**facts)  # type: ignore[arg-type]


def test_fingerprint_by_hand() -> None:
    a = SimpleNamespace(case_id="a", image=np.array([[[0, 0, 4], [0, 0, 6]], [[0, 1, 0], [0, 0, 0]]], np.float32),
                        mask=np.array([[0, 0, 2], [0, 0, 2]]), spacing=(1.0, 0.5))
    b = SimpleNamespace(case_id="b", image=np.full((2, 3, 2), -3.0, np.float32),
                        mask=np.zeros((3, 2), np.int64), spacing=(2.0, 0.5))
    fp = fingerprint_cases([a, b])
    assert fp.shapes == ((2, 3), (3, 2)) and fp.spacings == ((1.0, 0.5), (2.0, 0.5))
    assert fp.channels == 2 and fp.num_cases == 2 and fp.data_dims == 2
    assert (fp.intensity_min, fp.intensity_max) == (-3.0, 6.0)
    # channel 0: 12 pixels summing to 10 - 18 = -8; channel 1: 1 - 18 = -17
    assert fp.channel_mean == pytest.approx((-8 / 12, -17 / 12))
    assert fp.channel_std[0] == pytest.approx(np.std([0, 0, 4, 0, 0, 6] + [-3] * 6))
    # a: 3 of 6 pixels are zero in both channels; b: none
    assert fp.zero_fractions == (0.5, 0.0) and fp.zero_fraction == 0.25
    assert fp.label_pixels == ((0, 10), (2, 2)) and fp.cases_with_foreground == 1
    assert fp.foreground_fraction == pytest.approx(2 / 12)
    assert fp.median_shape == (3, 3)


def test_fingerprint_refuses_mixed_channels_and_no_cases() -> None:
    one = SimpleNamespace(case_id="one", image=np.zeros((1, 8, 8)), mask=np.zeros((8, 8), np.int64),
                          spacing=(1.0, 1.0))
    rgb = SimpleNamespace(case_id="rgb", image=np.zeros((3, 8, 8)), mask=np.zeros((8, 8), np.int64),
                          spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="case rgb"):
        fingerprint_cases([one, rgb])
    with pytest.raises(ValueError, match="no training cases"):
        fingerprint_cases([])


def test_slicewise_patch_comes_from_the_in_plane_axes() -> None:
    fp = _fp([(30, 217, 181), (28, 210, 170), (32, 220, 190)])
    plan = make_plan(fp, BINARY, Config())
    assert plan.slicewise and plan.median_shape == (30, 217, 181)
    assert plan.patch_size == (224, 192)
    assert make_plan(fp, BINARY, Config().override(["model.spatial_dims=2"]), accelerated=True).patch_size \
        == (224, 192)


def test_isotropic_volumes_get_a_3d_network_on_an_accelerator() -> None:
    fp = _fp([(40, 200, 180)] * 3)
    cpu, gpu = make_plan(fp, BINARY, Config()), make_plan(fp, BINARY, Config(), accelerated=True)
    assert cpu.network.spatial_dims == 2 and cpu.batch_size == 8
    assert gpu.network.spatial_dims == 3 and gpu.batch_size == 2 and not gpu.slicewise
    # shrunk to the voxel budget, largest axes first; the shortest axis keeps the bottleneck at depth 4
    assert gpu.patch_size == (40, 120, 112) and gpu.network.depth == 4
    assert np.prod(gpu.patch_size) <= MAX_PATCH_VOXELS_3D * 1.1  # rounding up to the divisor
    thick = _fp([(40, 200, 180)] * 3, [(5.0, 1.0, 1.0)] * 3)
    assert make_plan(thick, BINARY, Config(), accelerated=True).network.spatial_dims == 2


def test_median_shape_is_taken_after_resampling() -> None:
    # target spacing is the median (1.0); the two 0.5 mm cases of 60 px are 30 px after resampling
    fp = _fp([(100, 100), (100, 100), (40, 40), (60, 60), (60, 60)],
             [(1.0, 1.0)] * 3 + [(0.5, 0.5)] * 2)
    plan = make_plan(fp, BINARY, Config())
    assert plan.spacing == (1.0, 1.0) and plan.median_shape == (40, 40)
    assert plan.patch_size == (40, 40) and plan.network.depth == 4


def test_depth_shrinks_for_small_images_and_config_carries_over() -> None:
    cfg = Config().override(["model.norm=group", "model.dropout=0.2", "model.base_width=8",
                             "model.max_width=64", "train.batch_size=3"])
    plan = make_plan(_fp([(24, 40)] * 3, channels=3), LabelSet.from_count(4), cfg)
    net = plan.network
    assert (net.depth, net.norm, net.dropout, net.base_width, net.max_width) == (3, "group", 0.2, 8, 64)
    assert (net.in_channels, net.num_classes, net.spatial_dims) == (3, 4, 2)
    assert plan.patch_size == (24, 40) and plan.batch_size == 3


def test_normalisation_follows_the_fingerprint(tmp_path: Path) -> None:
    shapes = [(64, 64)] * 3
    assert make_plan(_fp(shapes), BINARY, Config()).normalization == "zscore"
    assert make_plan(_fp(shapes, zero_fractions=(0.6, 0.1, 0.5)), BINARY, Config()).normalization \
        == "zscore_nonzero"
    assert make_plan(_fp(shapes, intensity_min=-1024.0), BINARY, Config()).normalization == "ct"
    (tmp_path / "dataset.json").write_text(json.dumps({"modality": {"0": "CT"}}))
    ct = Config().override([f"data.root={json.dumps(str(tmp_path))}"])
    assert make_plan(_fp(shapes), BINARY, ct).normalization == "ct"
    assert make_plan(_fp(shapes), BINARY, ct.override(['data.normalization="none"'])).normalization == "none"


def test_config_choices_that_do_not_fit_the_data_raise() -> None:
    with pytest.raises(ValueError, match="data.patch_size"):
        make_plan(_fp([(64, 64)]), BINARY, Config().override(["data.patch_size=[32, 32, 32]"]))
    with pytest.raises(ValueError, match="model.spatial_dims"):
        make_plan(_fp([(64, 64)]), BINARY, Config().override(["model.spatial_dims=3"]))
    fixed = make_plan(_fp([(64, 64)]), BINARY, Config().override(["data.patch_size=[30, 50]", "model.depth=3"]))
    assert fixed.patch_size == (32, 52)  # rounded up to the network's divisor


def test_plan_round_trips_through_plain_data() -> None:
    plan = make_plan(_fp([(30, 217, 181)] * 2, [(3.0, 1.0, 1.0)] * 2), LabelSet.from_count(3),
                     Config().override(["model.norm=instance"]))
    plan = replace(plan, intensity={"lower": [-100.0], "upper": [300.0]})
    data = json.loads(json.dumps(plan.to_dict()))
    assert Plan.from_dict(data) == plan
    assert data["network"]["norm"] == "instance" and data["spacing"] == [3.0, 1.0, 1.0]


def _replace_test_split(root: Path, n: int) -> None:
    """Swap the test split for larger float TIFFs: CT-like intensities, mostly zero pixels."""
    for path in (root / "test").rglob("*.png"):
        path.unlink()
    rng = np.random.default_rng(1)
    for i in range(n):
        image = rng.uniform(-1000, 2000, (64, 96)).astype(np.float32)
        image[:, :70] = 0
        mask = np.zeros((64, 96), np.uint8)
        mask[20:40, 75:90] = 1
        tifffile.imwrite(root / "test" / "images" / f"test_{i:02d}.tif", image)
        Image.fromarray(mask).save(root / "test" / "masks" / f"test_{i:02d}.png")


def test_training_plan_ignores_the_test_split(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "data", n=3, size=(32, 40))

    def plan_of(name: str) -> dict[str, object]:
        out = tmp_path / name
        train(Config().override([f"data.root={json.dumps(str(root))}", f"out={json.dumps(str(out))}",
                                 "model.base_width=4", "model.depth=3", "train.batch_size=2",
                                 "train.device=\"cpu\"", "train.iterations_per_epoch=2", "train.epochs=1"]))
        return json.loads((out / "plan.json").read_text())

    before = plan_of("before")
    assert before["median_shape"] == [32, 40] and before["normalization"] == "zscore"
    # more test cases than train and val together, so they would dominate any all-split median
    _replace_test_split(root, n=8)
    after = plan_of("after")
    assert after == before


#: today's CPU plans without a time budget (before budget sizing), pinned
TODAY = {
    "colin27_brain": {"patch_size": [224, 192], "median_shape": [224, 192], "spacing": [1.0, 1.0],
                      "data_dims": 2, "batch_size": 8, "normalization": "zscore_nonzero",
                      "network": {"spatial_dims": 2, "depth": 5, "base_width": 16, "max_width": 256,
                                  "norm": "batch", "dropout": 0.0, "in_channels": 1, "num_classes": 2}},
    # slicewise, default regime: no 2.5D context (that is the small-structure regime's)
    "mni152_tissue3d": {"patch_size": [240, 208], "median_shape": [31, 233, 197],
                        "spacing": [1.0, 1.0, 1.0], "data_dims": 3, "batch_size": 8,
                        "normalization": "zscore_nonzero", "context_slices": 0,
                        "network": {"spatial_dims": 2, "depth": 5, "base_width": 16, "max_width": 256,
                                    "norm": "batch", "dropout": 0.0, "in_channels": 1,
                                    "num_classes": 4}},
}


@pytest.mark.parametrize("name", sorted(TODAY))
def test_cpu_plans_without_a_budget_stay_todays(shared_data: Path, name: str) -> None:
    from medunet.data.check import check_dataset
    from medunet.data.labels import resolve_labels
    from medunet.data.loader import read_cases
    from medunet.data.split import split_cases
    from medunet.planning.device_profile import DeviceProfile

    root = str(shared_data / name)
    summary = check_dataset(root, resolve_labels(root, None, None))
    train_cases, _ = split_cases(summary, 0.2, 0)
    fp, cfg = fingerprint_cases(read_cases(train_cases)), Config().override([f"data.root={json.dumps(root)}"])
    timed = DeviceProfile("cpu", "2 cores", 2**34, timer=lambda c: pytest.fail("timed without a budget"))
    for plan in (make_plan(fp, summary.labels, cfg), make_plan(fp, summary.labels, cfg, device=timed)):
        got = plan.to_dict()
        assert {k: got[k] for k in TODAY[name]} == TODAY[name] and got["calibration"] == {}


def test_context_slices_only_for_slicewise_plans() -> None:
    # small lesions (0.1 % of the pixels): the small-structure regime's 2.5D context of 1 slice per side
    volumes = _fp([(30, 64, 64)] * 3, [(5.0, 1.0, 1.0)] * 3, channels=2, label_pixels=((0, 999), (1, 1)))
    plan = make_plan(volumes, BINARY, Config())
    assert plan.regime == "small_structures"
    assert plan.slicewise and plan.context_slices == 1 and plan.network.in_channels == 2 * 3
    large = make_plan(_fp([(30, 64, 64)] * 3, [(5.0, 1.0, 1.0)] * 3, channels=2), BINARY, Config())
    assert large.regime == "default" and large.slicewise and large.context_slices == 0
    two = make_plan(volumes, BINARY, Config().override(["data.context_slices=2"]))
    assert two.context_slices == 2 and two.network.in_channels == 2 * 5
    none = make_plan(volumes, BINARY, Config().override(["data.context_slices=0"]))
    assert none.context_slices == 0 and none.network.in_channels == 2
    images = make_plan(_fp([(64, 64)] * 3), BINARY, Config())
    assert images.context_slices == 0 and images.network.in_channels == 1
    with pytest.raises(ValueError, match="data.context_slices"):
        make_plan(_fp([(64, 64)] * 3), BINARY, Config().override(["data.context_slices=1"]))
