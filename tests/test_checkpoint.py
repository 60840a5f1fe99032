"""Checkpoints: plain-data round trip, pickle payloads refused, atomic writes."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from medunet.checkpoint import FORMAT, VERSION, load_checkpoint, save_checkpoint


class _Payload:
    """Pickles to a call of ``os.system``: loading it must never run the command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"echo pwned > {self.marker}",))


def _payload() -> dict[str, object]:
    return {
        "model": {"w": torch.arange(6.0).view(2, 3), "b": torch.zeros(2, dtype=torch.int64)},
        "epoch": 3,
        "plan": {"patch_size": [64, 64], "labels": ["background", "tumour"], "spacing": None},
        "metrics": [0.5, 0.75],
    }


def test_round_trip(tmp_path: Path) -> None:
    p = save_checkpoint(_payload(), tmp_path / "sub" / "last.pt")
    assert p == tmp_path / "sub" / "last.pt" and p.is_file()
    data = load_checkpoint(p)
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert torch.equal(data["model"]["w"], torch.arange(6.0).view(2, 3))
    assert data["model"]["b"].dtype == torch.int64
    assert data["epoch"] == 3 and data["metrics"] == [0.5, 0.75]
    assert data["plan"] == {"patch_size": [64, 64], "labels": ["background", "tumour"], "spacing": None}
    assert [f.name for f in p.parent.iterdir()] == ["last.pt"]


def test_model_state_dict_round_trip(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    save_checkpoint({"model": net.state_dict()}, tmp_path / "m.pt")
    other = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    other.load_state_dict(load_checkpoint(tmp_path / "m.pt")["model"])
    for a, b in zip(net.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_overwrite_replaces(tmp_path: Path) -> None:
    save_checkpoint({"epoch": 1}, tmp_path / "c.pt")
    save_checkpoint({"epoch": 2}, tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 2


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_pickle_payload_is_refused_and_not_executed(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "pwned"
    evil = {"format": FORMAT, "version": VERSION, "model": _Payload(marker)}
    path = tmp_path / "evil.pt"
    if writer == "torch":
        torch.save(evil, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(evil, fh, protocol=2)
    with pytest.raises(ValueError, match="evil.pt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_payload_does_run_under_plain_pickle(tmp_path: Path) -> None:
    """Control for the test above: the marker proves the payload would have executed."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Payload(marker)))  # deliberately unsafe; a harmless echo
    assert marker.read_text().strip() == "pwned"


def test_non_medunet_dict_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a medunet checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a medunet checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


def test_newer_version_is_refused(tmp_path: Path) -> None:
    torch.save({"format": FORMAT, "version": VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(ValueError, match="newer"):
        load_checkpoint(tmp_path / "new.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", bytes(range(256))])
def test_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    p = save_checkpoint(_payload(), tmp_path / "c.pt")
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match="c.pt"):
        load_checkpoint(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path)  # a folder is not a checkpoint file


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "best.pt"
    save_checkpoint({"epoch": 1}, path)
    before = path.read_bytes()
    real_save = torch.save

    def half_then_fail(obj: object, fh: object, *args: object, **kwargs: object) -> None:
        real_save(obj, fh)  # bytes reach the temp file, then the "disk fills up"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint({"epoch": 2}, path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(f.name for f in tmp_path.iterdir()) == ["best.pt"]


def test_interrupted_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 1}, tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == []
