"""Uncertainty maps: entropy of the members' mean probability, the case score, the files written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
import torch
from PIL import Image
from pointwise_kit import BIAS, WEIGHT, PointwiseLogits, expected_probs, pointwise_predictor

from medunet.data.labels import LabelSet
from medunet.inference.outputs import is_uncertainty_map, uncertainty_output_name
from medunet.inference.predictor import Predictor
from medunet.inference.probs import MemberAccumulator, infer_members, infer_probs
from medunet.inference.uncertainty import normalized_entropy, uncertainty_of, uncertainty_score
from medunet.io import ImageMeta, read_image
from medunet.models import UNetConfig
from medunet.plan import Plan


def _mean_of(*members: list[list[float]]) -> torch.Tensor:
    """Member probability maps ``(K, S)`` given as nested lists, averaged by the accumulator."""
    acc = MemberAccumulator()
    for m in members:
        acc.add(torch.tensor(m, dtype=torch.float32))
    return acc.mean().probs


def _entropy_np(probs: np.ndarray) -> np.ndarray:
    """Normalised entropy over axis 0 in float64 (``0 log 0 = 0``): the reference."""
    p = probs.astype(np.float64)
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -terms.sum(axis=0) / math.log(p.shape[0])


# --- the map: definition ------------------------------------------------------------------------

def test_members_that_agree_with_certainty_give_exactly_zero() -> None:
    binary = [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]
    three = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    for member in (binary, three):
        acc = MemberAccumulator()
        for _ in range(4):  # e.g. the four flips of 2D TTA
            acc.add(torch.tensor(member))
        mean = acc.mean()
        h = normalized_entropy(mean.probs)
        assert torch.equal(h, torch.zeros(len(member[0])))
        assert uncertainty_of(mean).score == 0.0 and uncertainty_of(mean).members == 4


def test_two_members_disagreeing_50_50_give_the_maximum_in_binary() -> None:
    # voxels: agree on 0 | disagree with certainty | agree at 0.9 | one certain, one at 0.4 | agree on 1
    a = [[1.0, 1.0, 0.9, 1.0, 0.0], [0.0, 0.0, 0.1, 0.0, 1.0]]
    b = [[1.0, 0.0, 0.9, 0.4, 0.0], [0.0, 1.0, 0.1, 0.6, 1.0]]
    h = normalized_entropy(_mean_of(a, b))
    hb = [-(q * math.log(q) + (1 - q) * math.log(1 - q)) / math.log(2) for q in (0.9, 0.7)]
    np.testing.assert_allclose(h.numpy(), [0.0, 1.0, hb[0], hb[1], 0.0], rtol=0, atol=1e-6)
    assert h[1].item() == 1.0 and int(h.argmax()) == 1  # the maximum, where the members disagree
    assert h[0].item() == 0.0 and h[4].item() == 0.0


def test_entropy_is_normalised_by_log_of_the_number_of_classes() -> None:
    # K = 3, normalised by log 3: uniform -> 1; two classes at 1/2 -> log 2 / log 3; one-hot -> 0
    probs = torch.tensor([[1 / 3, 0.5, 0.7, 0.0], [1 / 3, 0.5, 0.2, 1.0], [1 / 3, 0.0, 0.1, 0.0]])
    h = normalized_entropy(probs)
    # (0.7, 0.2, 0.1): -(0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1) / ln 3 = 0.8018186 / 1.0986123
    np.testing.assert_allclose(h.numpy(), [1.0, 0.6309297536, 0.7298466992, 0.0], rtol=0, atol=1e-6)
    # three members, each certain of another class: the mean is uniform, the maximum
    certain = [[[1.0], [0.0], [0.0]], [[0.0], [1.0], [0.0]], [[0.0], [0.0], [1.0]]]
    np.testing.assert_allclose(normalized_entropy(_mean_of(*certain)).numpy(), [1.0], atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 classes"):
        normalized_entropy(torch.ones((1, 3)))


def test_case_score_is_the_mean_over_voxels_where_any_member_predicts_foreground() -> None:
    # member a finds foreground at voxel 1, member b at voxel 3; (0.5, 0.5) is a tie -> background
    a = [[0.6, 0.2, 0.6, 0.6, 0.5], [0.4, 0.8, 0.4, 0.4, 0.5]]
    b = [[0.6, 0.6, 0.6, 0.1, 0.6], [0.4, 0.4, 0.4, 0.9, 0.4]]
    acc = MemberAccumulator()
    for m in (a, b):
        acc.add(torch.tensor(m))
    mean = acc.mean()
    assert mean.any_foreground.tolist() == [False, True, False, True, False]
    assert mean.probs.argmax(0).tolist() == [0, 1, 0, 1, 0]
    unc = uncertainty_of(mean)
    h = _entropy_np(np.array([[0.4, 0.35], [0.6, 0.65]]))  # the means at voxels 1 and 3
    assert unc.score == pytest.approx(h.mean(), abs=1e-6)
    # the background voxels (0.6 / 0.4, uncertain) do not dilute or inflate the score
    assert unc.score != pytest.approx(float(unc.entropy.mean()), abs=1e-3)
    # no member predicts foreground: 0, though the background is not certain
    assert uncertainty_score(torch.full((5,), 0.97), torch.zeros(5, dtype=torch.bool)) == 0.0


def test_accumulator_averages_in_the_first_members_tensor() -> None:
    rng = np.random.default_rng(0)
    members = [rng.dirichlet(np.ones(3), size=(4, 5)).transpose(2, 0, 1).astype(np.float32)
               for _ in range(3)]
    acc = MemberAccumulator()
    first = torch.from_numpy(members[0].copy())
    acc.add(first)
    for m in members[1:]:
        acc.add(torch.from_numpy(m.copy()))
    mean = acc.mean()
    np.testing.assert_allclose(mean.probs.numpy(), np.mean(members, axis=0), rtol=0, atol=1e-6)
    assert mean.members == 3
    # no second (K, *S) map: N members cost the memory of one sum
    assert mean.probs.data_ptr() == first.data_ptr()
    with pytest.raises(ValueError, match="no member"):
        MemberAccumulator().mean()


def test_members_are_flips_times_models() -> None:
    """An ensemble of two models with TTA: 2 x 4 members, the mean of both models' softmax."""
    other_weight = np.array([[0.0], [-0.5], [2.0]])
    models = [PointwiseLogits(WEIGHT, BIAS, 2), PointwiseLogits(other_weight, BIAS, 2)]
    plan = Plan(patch_size=(16, 16), network=UNetConfig(spatial_dims=2, num_classes=3, depth=3),
                normalization="none", median_shape=(16, 16))
    image = np.random.default_rng(1).uniform(-3, 3, size=(1, 13, 21)).astype(np.float32)
    mean = infer_members(models, torch.from_numpy(image), plan, tta=True)
    p1, p2 = expected_probs(image, WEIGHT, BIAS), expected_probs(image, other_weight, BIAS)
    assert mean.members == 8
    np.testing.assert_allclose(mean.probs.numpy(), (p1 + p2) / 2, rtol=0, atol=2e-6)
    union = (p1.argmax(0) > 0) | (p2.argmax(0) > 0)
    assert np.array_equal(mean.any_foreground.numpy(), union)
    assert torch.equal(infer_probs(models, torch.from_numpy(image), plan, tta=True), mean.probs)
    with pytest.raises(ValueError, match="no models"):
        infer_members([], torch.from_numpy(image), plan)


# --- files ----------------------------------------------------------------------------------------

class ColumnRamp(torch.nn.Module):
    """Binary; class 1's logit is ``4 (column - 6.5)``: certain foreground in columns 7.. of what
    it sees. Flipped along the columns it finds columns 0..2 instead, so TTA members disagree."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        col = torch.arange(x.shape[-1], dtype=torch.float32).expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([torch.zeros_like(col), 4 * (col - 6.5)], dim=1)


def _ramp_predictor() -> Predictor:
    plan = Plan(patch_size=(8, 8), network=UNetConfig(spatial_dims=2, num_classes=2, depth=2),
                normalization="none", median_shape=(8, 8))
    return Predictor(ColumnRamp(), plan, LabelSet.from_count(2), torch.device("cpu"))


def test_2d_map_is_a_float32_tiff_with_the_tta_disagreement(tmp_path: Path) -> None:
    src = tmp_path / "in" / "x.png"
    src.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 10), dtype=np.uint8)).save(src)
    [case] = _ramp_predictor().predict_files([src], tmp_path / "out", uncertainty=True)
    assert case.case_id == "x" and case.mask == tmp_path / "out" / "x.png"
    assert case.uncertainty == tmp_path / "out" / "x_uncertainty.tif"
    got = tifffile.imread(case.uncertainty)
    assert got.dtype == np.float32 and got.shape == (8, 10)
    # by hand: two flips see the ramp, two the reversed one; the mean at column j
    col = np.arange(10, dtype=np.float64)
    sig = 1 / (1 + np.exp(-4 * (col - 6.5)))
    p1 = np.broadcast_to((sig + sig[::-1]) / 2, (8, 10))
    expected = _entropy_np(np.stack([1 - p1, p1]))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert got[:, [0, 9]].min() > 0.99 and got[:, 4].max() < 0.02  # disagree vs agree
    # any member finds foreground in columns 0..2 and 7..9, though the mean mask is empty
    assert not np.asarray(Image.open(case.mask)).any()
    assert case.uncertainty_score == pytest.approx(expected[:, [0, 1, 2, 7, 8, 9]].mean(), abs=1e-5)
    # medunet reads its own map back
    img, meta = read_image(case.uncertainty)
    assert img.dtype == np.float32 and meta.shape == (8, 10)
    np.testing.assert_array_equal(img[0], got)


def _volume(path: Path, values: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(values)
    img.SetSpacing((0.8, 0.9, 2.5))
    img.SetOrigin((10.0, -20.0, 5.0))
    img.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return img


def _same_geometry(got: sitk.Image, ref: sitk.Image) -> None:
    assert got.GetSize() == ref.GetSize()
    np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-6)


@pytest.mark.parametrize("net_dims", [3, 2], ids=["3d-net", "slicewise"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".mha"])
def test_3d_map_has_the_inputs_geometry_and_exact_values(tmp_path: Path, net_dims: int,
                                                         suffix: str) -> None:
    values = np.random.default_rng(2).uniform(-3, 3, size=(7, 11, 13)).astype(np.float32)
    ref = _volume(tmp_path / "in" / f"v{suffix}", values)
    patch, depth = ((8, 8, 8), 3) if net_dims == 3 else ((16, 16), 4)
    predictor, _ = pointwise_predictor(WEIGHT, BIAS, net_dims=net_dims, data_dims=3, patch=patch,
                                       depth=depth, spacing=(2.5, 0.9, 0.8))
    [case] = predictor.predict_files([tmp_path / "in" / f"v{suffix}"], tmp_path / "out", uncertainty=True)
    assert case.uncertainty == tmp_path / "out" / f"v_uncertainty{suffix}"
    got = sitk.ReadImage(str(case.uncertainty))
    assert got.GetPixelID() == sitk.sitkFloat32
    _same_geometry(got, ref)
    probs = expected_probs(values[None], WEIGHT, BIAS)
    expected = _entropy_np(probs)  # a pointwise model: every flip agrees, the map is its entropy
    arr = sitk.GetArrayFromImage(got)
    np.testing.assert_allclose(arr, expected, rtol=0, atol=2e-6)
    assert case.uncertainty_score == pytest.approx(expected[probs.argmax(0) > 0].mean(), abs=1e-5)


def test_3d_map_is_resampled_back_to_the_input_grid(tmp_path: Path) -> None:
    """Trained at another spacing: the map comes back on the input's grid, like the mask."""
    ref = _volume(tmp_path / "in" / "c.nii.gz", np.ones((7, 11, 13), np.float32))
    predictor, model = pointwise_predictor(WEIGHT, BIAS, net_dims=3, data_dims=3, patch=(8, 8, 8),
                                           depth=3, spacing=(1.25, 1.8, 1.6))
    [case] = predictor.predict_files([tmp_path / "in" / "c.nii.gz"], tmp_path / "out",
                                     tta=False, uncertainty=True)
    assert model.seen[0][2:] != (7, 11, 13)  # the network ran on the training grid
    assert case.uncertainty is not None
    got = sitk.ReadImage(str(case.uncertainty))
    _same_geometry(got, ref)
    expected = float(_entropy_np(expected_probs(np.ones((1, 1)), WEIGHT, BIAS))[0])
    np.testing.assert_allclose(sitk.GetArrayFromImage(got), expected, rtol=0, atol=2e-6)
    assert case.uncertainty_score == pytest.approx(expected, abs=1e-6)  # class 1 everywhere


def test_without_uncertainty_the_outputs_are_unchanged(tmp_path: Path) -> None:
    src = tmp_path / "in" / "x.png"
    src.parent.mkdir()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (13, 21), dtype=np.uint8)).save(src)
    predictor, _ = pointwise_predictor(WEIGHT, BIAS, net_dims=2, data_dims=2, patch=(16, 16), depth=4)
    [plain] = predictor.predict_files([src], tmp_path / "a", probabilities=True, overlays=True)
    [extra] = predictor.predict_files([src], tmp_path / "b", probabilities=True, overlays=True,
                                      uncertainty=True)
    assert plain.uncertainty is None and plain.uncertainty_score is None
    assert plain.mask == tmp_path / "a" / "x.png" and extra.mask == tmp_path / "b" / "x.png"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.png", "x_overlay.png", "x_probs.npz"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "x.png", "x_overlay.png", "x_probs.npz", "x_uncertainty.tif"]
    for name in ("x.png", "x_overlay.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    with np.load(tmp_path / "a" / "x_probs.npz") as a, np.load(tmp_path / "b" / "x_probs.npz") as b:
        assert a["probabilities"].tobytes() == b["probabilities"].tobytes()
    # the probabilities are the same numbers with or without the uncertainty
    image = np.asarray(Image.open(src), np.float32)
    probs, unc = predictor.predict_uncertainty(image)
    assert probs.tobytes() == predictor.predict_proba(image).tobytes()
    assert unc.members == 4 and unc.entropy.dtype == np.float32 and unc.entropy.shape == (13, 21)


@pytest.mark.parametrize(("name", "expected"), [
    ("a.png", "a_uncertainty.tif"), ("a.jpg", "a_uncertainty.tif"), ("a.tiff", "a_uncertainty.tif"),
    ("a.nii.gz", "a_uncertainty.nii.gz"), ("a.nhdr", "a_uncertainty.nrrd"), ("a.mhd", "a_uncertainty.mha"),
])
def test_uncertainty_file_names(name: str, expected: str) -> None:
    ndim = 2 if name.endswith((".png", ".jpg", ".tiff")) else 3
    meta = ImageMeta(Path("in") / name, (4,) * ndim, "uint8", "L" if ndim == 2 else "volume")
    assert uncertainty_output_name(meta) == expected
    assert uncertainty_output_name(meta, "case7") == expected.replace("a_", "case7_")
    assert is_uncertainty_map(Path("out") / expected) and not is_uncertainty_map(Path(name))
