"""A 2.5D model predicts volumes of the images' own channels: the predictor takes 1-channel
volumes for a network of 2k + 1 input channels and stacks the slices as training did."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from medunet.data.labels import LabelSet
from medunet.inference.predictor import Predictor
from medunet.models import UNetConfig
from medunet.models.factory import model_for
from medunet.plan import Plan


def _predictor(k: int = 2) -> Predictor:
    torch.manual_seed(0)
    net = UNetConfig(spatial_dims=2, depth=3, base_width=4, in_channels=2 * k + 1, num_classes=2)
    plan = Plan((16, 16), net, "none", (6, 16, 16), data_dims=3, context_slices=k, deep_supervision=True)
    return Predictor(model_for(plan), plan, LabelSet((0, 1), ("background", "lesion")), torch.device("cpu"))


def test_the_plan_takes_images_of_the_channels_before_stacking() -> None:
    pred = _predictor()
    assert pred.plan.network.in_channels == 5 and pred.plan.image_channels == 1
    assert pred.input_problem((1, 6, 16, 16)) is None
    assert "expects 1" in str(pred.input_problem((5, 6, 16, 16)))


def test_a_one_channel_volume_is_predicted_slice_by_slice_with_context(tmp_path: Path) -> None:
    pred = _predictor()
    volume = np.random.default_rng(0).normal(size=(1, 6, 16, 16)).astype(np.float32)
    probs = pred.predict_proba(volume, tta=False)
    assert probs.shape == (2, 6, 16, 16)
    # slice 0 seen with slices [0, 0, 0, 1, 2] as its channels, as in training
    x = torch.from_numpy(volume[0, [0, 0, 0, 1, 2]])[None]
    with torch.no_grad():
        expected = pred.model(x).softmax(1)[0]
    torch.testing.assert_close(torch.as_tensor(probs)[:, 0], expected, rtol=0, atol=1e-6)
    path = tmp_path / "in" / "case.nii.gz"
    path.parent.mkdir()
    nib.save(nib.Nifti1Image(volume[0].transpose(2, 1, 0), np.eye(4)), path)
    (written,) = pred.predict_files([path], tmp_path / "out", tta=False)
    assert written.case_id == "case" and (tmp_path / "out" / "case.nii.gz").is_file()
