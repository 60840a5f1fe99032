"""The U-Net: same-size logits in 2D and 3D, channel widths, config validation, determinism."""

from __future__ import annotations

import pytest
import torch

from medunet.models import UNet, UNetConfig


def _net(**kw: object) -> UNet:
    torch.manual_seed(0)
    cfg = {"in_channels": 1, "num_classes": 2, "base_width": 4, "max_width": 16, **kw}
    return UNet(UNetConfig(**cfg)).eval()  # type: ignore[arg-type]


@pytest.mark.parametrize("depth", [3, 4])
def test_2d_output_matches_input_size(depth: int) -> None:
    net = _net(spatial_dims=2, depth=depth)
    x = torch.randn(2, 1, 32, 48)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 2, 32, 48)
    assert torch.isfinite(y).all()


def test_3d_output_matches_input_size() -> None:
    net = _net(spatial_dims=3, depth=3)
    with torch.no_grad():
        y = net(torch.randn(1, 1, 16, 16, 16))
    assert y.shape == (1, 2, 16, 16, 16)


@pytest.mark.parametrize("k", [2, 5])
@pytest.mark.parametrize("c", [1, 3])
def test_channels_and_classes(c: int, k: int) -> None:
    net = _net(in_channels=c, num_classes=k, depth=3)
    with torch.no_grad():
        assert net(torch.randn(1, c, 16, 24)).shape == (1, k, 16, 24)


@pytest.mark.parametrize("norm", ["batch", "instance", "group"])
@pytest.mark.parametrize("dims", [2, 3])
def test_every_norm_trains_and_evaluates(norm: str, dims: int) -> None:
    net = _net(norm=norm, spatial_dims=dims, depth=3, base_width=6, max_width=24)
    x = torch.randn((2, 1) + (8,) * dims)
    net.train()
    y = net(x)
    y.sum().backward()
    assert y.shape == (2, 2) + (8,) * dims
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    net.eval()
    with torch.no_grad():
        assert net(x).shape == y.shape


def test_widths_double_and_cap_at_max_width() -> None:
    cfg = UNetConfig(base_width=32, max_width=320, depth=6)
    assert cfg.widths == [32, 64, 128, 256, 320, 320]
    assert UNetConfig(base_width=8, max_width=8, depth=3).widths == [8, 8, 8]
    assert UNetConfig(depth=4).divisor == 8


def test_layers_use_the_widths() -> None:
    net = _net(depth=4, base_width=4, max_width=12)
    assert [b.conv2.out_channels for b in net.encoder] == [4, 8, 12, 12]
    assert [b.conv2.out_channels for b in net.decoder] == [12, 8, 4]
    assert net.head.in_channels == 4 and net.head.out_channels == 2


@pytest.mark.parametrize(
    ("kw", "word"),
    [
        ({"spatial_dims": 4}, "spatial_dims"),
        ({"spatial_dims": 1}, "spatial_dims"),
        ({"depth": 1}, "depth"),
        ({"depth": 9}, "depth"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"norm": "foo"}, "norm"),
        ({"base_width": 0}, "base_width"),
        ({"base_width": 64, "max_width": 32}, "max_width"),
    ],
)
def test_invalid_config_raises(kw: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        UNetConfig(**kw)  # type: ignore[arg-type]


def test_state_dict_keys_are_readable() -> None:
    keys = list(_net(depth=3).state_dict())
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"encoder", "decoder", "upsample", "head"}
    assert "encoder.0.conv1.weight" in keys and "head.weight" in keys


def test_config_dict_round_trips() -> None:
    net = _net(depth=3, norm="group", dropout=0.2)
    assert UNetConfig(**net.config_dict()) == net.cfg  # type: ignore[arg-type]


def test_same_seed_same_output() -> None:
    x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    a, b = _net(depth=3), _net(depth=3)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    torch.manual_seed(1)
    c = UNet(UNetConfig(base_width=4, max_width=16, depth=3)).eval()
    with torch.no_grad():
        assert not torch.equal(a(x), c(x))


def test_dropout_only_in_train_mode() -> None:
    net = _net(depth=3, dropout=0.5)
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
