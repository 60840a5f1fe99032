"""Deep supervision: heads only when asked, a list of logits only in training mode, plain
checkpoints unchanged, and every model built by ``model_for(plan)``."""

from __future__ import annotations

import pytest
import torch

from medunet.models import UNet, UNetConfig
from medunet.models.factory import build_model, model_for
from medunet.models.unet import supervised_levels
from medunet.plan import Plan

CFG = UNetConfig(in_channels=1, num_classes=3, depth=5, base_width=4, max_width=16)


def _pair() -> tuple[UNet, UNet]:
    torch.manual_seed(0)
    plain = UNet(CFG)
    deep = UNet(CFG, deep_supervision=True)
    missing, unexpected = deep.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("ds_heads.") for k in missing)
    return plain, deep


def test_levels_skip_the_two_lowest_resolutions() -> None:
    assert supervised_levels(5) == [1, 2]
    assert supervised_levels(6) == [1, 2, 3]
    assert supervised_levels(4) == [1]
    assert supervised_levels(3) == [] and supervised_levels(2) == []


def test_heads_exist_only_when_asked() -> None:
    plain, deep = _pair()
    assert not hasattr(plain, "ds_heads")
    assert not any(k.startswith("ds_heads") for k in plain.state_dict())
    assert [(h.in_channels, h.out_channels) for h in deep.ds_heads] == [(8, 3), (16, 3)]
    assert set(deep.state_dict()) - set(plain.state_dict()) == {
        f"ds_heads.{i}.{p}" for i in range(2) for p in ("weight", "bias")}
    shallow = UNet(UNetConfig(depth=3, base_width=4), deep_supervision=True)
    assert not hasattr(shallow, "ds_heads")
    assert isinstance(shallow.train()(torch.zeros(1, 1, 8, 8)), torch.Tensor)


@pytest.mark.parametrize(("dims", "depth", "size"), [(2, 5, 32), (3, 4, 16)])
def test_training_mode_gives_every_resolution(dims: int, depth: int, size: int) -> None:
    torch.manual_seed(0)
    deep = UNet(UNetConfig(spatial_dims=dims, depth=depth, base_width=4, num_classes=3), deep_supervision=True)
    out = deep.train()(torch.randn((2, 1) + (size,) * dims))
    assert isinstance(out, list)
    expected = [(2, 3) + (size // 2 ** i,) * dims for i in [0, *supervised_levels(depth)]]
    assert [tuple(o.shape) for o in out] == expected
    sum(o.sum() for o in out).backward()
    assert all(h.weight.grad is not None for h in deep.ds_heads)


def test_eval_mode_is_the_plain_network() -> None:
    plain, deep = _pair()
    x = torch.randn(2, 1, 32, 48, generator=torch.Generator().manual_seed(1))
    plain.eval()
    deep.eval()
    with torch.no_grad():
        a, b = plain(x), deep(x)
    assert isinstance(b, torch.Tensor) and b.shape == (2, 3, 32, 48)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    plain.train()
    deep.train()
    out = deep(x)
    assert isinstance(out, list)
    torch.testing.assert_close(out[0], plain(x), rtol=0, atol=0)


def test_model_for_follows_the_plan_and_plain_checkpoints_load_as_before() -> None:
    plan = Plan((32, 32), CFG, "zscore", (32, 32))
    torch.manual_seed(0)
    before = UNet(CFG).state_dict()  # a checkpoint of a run without deep supervision
    net = model_for(plan)
    assert type(net) is UNet and not net.deep_supervision
    net.load_state_dict(before)  # strict: the same keys
    assert list(net.state_dict()) == list(before)
    deep = model_for(Plan((32, 32), CFG, "zscore", (32, 32), deep_supervision=True))
    assert deep.deep_supervision and len(deep.ds_heads) == 2
    assert build_model(CFG, True).state_dict().keys() == deep.state_dict().keys()
