"""The architecture as plain data: one set of defaults, and the network config derived from it."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from medunet.config import Config
from medunet.models import ModelConfig, UNetConfig


def test_one_set_of_defaults() -> None:
    chosen = [f.name for f in fields(ModelConfig) if f.name != "spatial_dims"]
    assert chosen == ["depth", "base_width", "max_width", "norm", "dropout"]
    net = UNetConfig()
    # depth and widths left to the plan (None in ModelConfig) resolve to UNetConfig's defaults
    assert UNetConfig.resolve(ModelConfig(), in_channels=1, num_classes=2, spatial_dims=2) == net
    assert all(getattr(ModelConfig(), name) in (None, getattr(net, name)) for name in chosen)
    assert Config().model == ModelConfig()
    assert (net.depth, net.base_width, net.max_width, net.norm, net.dropout) == (5, 16, 256, "batch", 0.0)


def test_resolve_carries_every_chosen_field() -> None:
    model = ModelConfig(spatial_dims=3, depth=6, base_width=8, max_width=40, norm="group", dropout=0.25)
    net = UNetConfig.resolve(model, in_channels=3, num_classes=4, spatial_dims=2, depth=4)
    assert asdict(net) == {"spatial_dims": 2, "depth": 4, "base_width": 8, "max_width": 40,
                           "norm": "group", "dropout": 0.25, "in_channels": 3, "num_classes": 4}
    assert UNetConfig.resolve(model, in_channels=1, num_classes=2, spatial_dims=3).depth == 6
    assert net.widths == [8, 16, 32, 40] and net.divisor == 8


def test_plain_data_round_trip() -> None:
    net = UNetConfig(spatial_dims=3, depth=3, norm="instance", dropout=0.1, in_channels=2, num_classes=5)
    assert UNetConfig(**asdict(net)) == net


@pytest.mark.parametrize(("kw", "word"), [
    ({"spatial_dims": 1}, "spatial_dims"),
    ({"depth": 9}, "depth"),
    ({"base_width": 32, "max_width": 16}, "max_width"),
    ({"norm": "layer"}, "norm"),
    ({"dropout": 1.0}, "dropout"),
])
def test_model_config_validates(kw: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        ModelConfig(**kw)  # type: ignore[arg-type]


def test_network_needs_resolved_dims_channels_and_classes() -> None:
    assert ModelConfig().spatial_dims is None
    with pytest.raises(ValueError, match="spatial_dims"):
        UNetConfig.resolve(ModelConfig(), in_channels=1, num_classes=2, spatial_dims=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_classes"):
        UNetConfig(num_classes=1)
    with pytest.raises(ValueError, match="in_channels"):
        UNetConfig(in_channels=0)
