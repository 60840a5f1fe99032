"""Run configuration: round trips, dotted overrides, and every kind of bad value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medunet.config import AugmentConfig, Config, DataConfig, ModelConfig, TrainConfig


def test_defaults_round_trip_through_dict() -> None:
    cfg = Config()
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert Config.from_dict({}) == cfg


def test_round_trip_through_json_file(tmp_path: Path) -> None:
    cfg = Config().override(["train.epochs=7", "data.labels=[0,1,2]", "train.augment.scale=[0.9,1.1]",
                             "train.time_budget=2.5", "data.root=/data/set"])
    cfg.to_json(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["train"]["epochs"] == 7
    back = Config.from_file(tmp_path / "config.json")
    assert back == cfg
    assert back.train.augment.scale == (0.9, 1.1)


def test_partial_file_fills_defaults(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"train": {"epochs": 3, "augment": {"flip": False}}}))
    cfg = Config.from_file(tmp_path / "c.json")
    assert cfg.train.epochs == 3 and cfg.train.augment.flip is False
    assert cfg.train.augment.rot90 is True and cfg.model == ModelConfig()


def test_overrides_of_nested_keys_lists_and_null() -> None:
    base = Config().override(["data.patch_size=[64,64]", "train.time_budget=5"])
    assert base.data.patch_size == [64, 64] and base.train.time_budget == 5.0
    cfg = base.override([
        "train.augment.p_affine=0",
        "train.augment.scale=[0.8, 1.25]",
        "data.labels=[0, 2]",
        "data.label_names=[\"bg\", \"lesion\"]",
        "data.patch_size=null",
        "train.time_budget=None",
        "model.norm=group",
        "train.device=cpu",
        "out=runs/x=1",
    ])
    assert cfg.train.augment.p_affine == 0.0 and isinstance(cfg.train.augment.p_affine, float)
    assert cfg.train.augment.scale == (0.8, 1.25)
    assert cfg.data.labels == [0, 2] and cfg.data.label_names == ["bg", "lesion"]
    assert cfg.data.patch_size is None and cfg.train.time_budget is None
    assert cfg.model.norm == "group" and cfg.train.device == "cpu"
    assert cfg.out == "runs/x=1"
    assert base.data.patch_size == [64, 64]  # the original is untouched


def test_override_of_whole_section() -> None:
    cfg = Config().override(['model={"depth": 3}'])
    assert cfg.model.depth == 3 and cfg.model.base_width == ModelConfig().base_width


@pytest.mark.parametrize(("item", "name"), [
    ("train.epoch=5", "epoch"),
    ("train.augment.flips=true", "flips"),
    ("trian.epochs=5", "trian"),
    ("model.depth.x=1", "depth"),
    ("nothing=1", "nothing"),
])
def test_unknown_override_names_the_key(item: str, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Config().override([item])


def test_override_without_equals_sign() -> None:
    with pytest.raises(ValueError, match="key=value"):
        Config().override(["train.epochs"])


@pytest.mark.parametrize(("data", "name"), [
    ({"trian": {}}, "trian"),
    ({"train": {"epoch": 5}}, "train.epoch"),
    ({"train": {"augment": {"mixup": 0.5}}}, "train.augment.mixup"),
])
def test_unknown_key_in_dict_names_the_key(data: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Config.from_dict(data)


@pytest.mark.parametrize(("item", "name"), [
    ("train.epochs=ten", "train.epochs"),
    ("train.epochs=5.5", "train.epochs"),
    ("train.epochs=true", "train.epochs"),
    ("train.lr=fast", "train.lr"),
    ("train.amp=1", "train.amp"),
    ("data.root=5", "data.root"),
    ("data.labels=3", "data.labels"),
    ("data.labels=[0, \"a\"]", "data.labels"),
    ("model.norm=layer", "model.norm"),
    ("data.normalization=minmax", "data.normalization"),
    ("train=5", "train"),
])
def test_wrong_types_raise(item: str, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Config().override([item])


@pytest.mark.parametrize(("item", "name"), [
    ("train.epochs=0", "train.epochs"),
    ("data.val_fraction=1.5", "data.val_fraction"),
    ("data.val_fraction=0", "data.val_fraction"),
    ("train.device=tpu", "train.device"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.lr=0", "train.lr"),
    ("train.time_budget=-1", "train.time_budget"),
    ("data.patch_size=[4, 64]", "data.patch_size"),
    ("model.spatial_dims=4", "model.spatial_dims"),
    ("model.depth=1", "model.depth"),
    ("model.base_width=0", "model.base_width"),
    ("model.dropout=1.0", "model.dropout"),
])
def test_invalid_values_raise(item: str, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Config().override([item])


def test_dataclasses_validate_directly() -> None:
    with pytest.raises(ValueError, match="train.epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="val_fraction"):
        DataConfig(val_fraction=1.5)
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")  # type: ignore[arg-type]


def test_configs_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Config().train.epochs = 3  # type: ignore[misc]
    assert AugmentConfig() == AugmentConfig()


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Config.from_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        Config.from_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json"):
        Config.from_file(tmp_path / "list.json")
    (tmp_path / "unknown.json").write_text(json.dumps({"train": {"epochz": 1}}))
    with pytest.raises(ValueError, match="train.epochz"):
        Config.from_file(tmp_path / "unknown.json")


def test_config_never_imports_torch() -> None:
    # the CLI parses the config before it decides whether a command needs torch
    code = ("import sys; from medunet.config import Config; "
            "cfg = Config.from_dict({'model': {'depth': 3, 'norm': 'group'}}).override(['model.depth=4']); "
            "print(cfg.model.depth, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "False"]
