"""Resources: out-of-memory gives the settings to try instead; a full disk leaves the previous
files intact and no temporary files.

(Checkpoints on a full disk: ``tests/test_checkpoint.py::test_failed_write_keeps_previous_file``
and, inside a training run, ``test_interrupts.py::test_crash_while_writing_last_pt_keeps_the_previous_one``.)
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_kit import CliResult, tiny_train_args

from medunet.device import is_out_of_memory, smaller_settings
from medunet.models import UNet

# --- out of memory -----------------------------------------------------------------------------


def _oom_forward(monkeypatch: pytest.MonkeyPatch, exc: BaseException, *, only_eval: bool = False) -> None:
    real = UNet.forward

    def forward(self: UNet, x: torch.Tensor) -> torch.Tensor:
        if not only_eval or not self.training:
            raise exc
        return real(self, x)

    monkeypatch.setattr(UNet, "forward", forward)


@pytest.mark.parametrize("stage, exc", [
    ("training", torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")),
    ("validation", RuntimeError("MPS backend out of memory (MPS allocated: 9.02 GB)")),
])
def test_out_of_memory_in_training_names_smaller_settings(
    stage: str, exc: BaseException, tiny_data: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult],
) -> None:
    _oom_forward(monkeypatch, exc, only_eval=stage == "validation")
    res = cli(tiny_train_args(tiny_data, tmp_path / "run"))
    assert res.code == 2 and "Traceback" not in res.err
    assert res.error_lines == [
        f"error: out of memory on cpu during {stage} (batch 2, patch [16, 16]); start over with "
        "--batch-size 1 --set data.patch_size=[8,8] --overwrite, or train on a device with more memory"
    ]


def test_out_of_memory_in_prediction_names_the_file(
    tiny_run: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> None:
    _oom_forward(monkeypatch, torch.OutOfMemoryError("CUDA out of memory."))
    image = tiny_data / "test" / "images" / "c00.png"
    res = cli(["predict", tiny_run, image, "--out", tmp_path / "out", "--device", "cpu"])
    assert res.code == 2 and "Traceback" not in res.err
    assert res.error_lines == [f"error: {image}: out of memory on cpu predicting an image of 1x16x16; "
                               "free memory or predict on a machine with more"]
    assert not (tmp_path / "out").exists()


def test_other_runtime_errors_are_not_mistaken_for_out_of_memory() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried ..."))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("Given groups=1, weight of size [4, 1, 3, 3]"))
    assert not is_out_of_memory(ValueError("out of memory"))


@pytest.mark.parametrize("batch, patch, divisor, expected", [
    (8, (128, 160), 16, (4, [64, 80])),
    (2, (100,), 16, (1, [64])),  # 50 rounded up to the divisor
    (1, (8, 8), 4, (1, [8, 8])),  # already the smallest: nothing below 8 px
    (3, (32, 96, 96), 8, (1, [16, 48, 48])),
])
def test_smaller_settings(batch: int, patch: tuple[int, ...], divisor: int,
                          expected: tuple[int, list[int]]) -> None:
    assert smaller_settings(batch, patch, divisor) == expected


# --- full disk ---------------------------------------------------------------------------------


def _disk_full_after_partial_write(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    """Make ``target.name`` write a few bytes to its file argument, then fail with ENOSPC."""

    def fail(self_or_file: Any, *args: Any, **kwargs: Any) -> None:
        dest = args[0] if isinstance(self_or_file, Image.Image) else self_or_file
        if hasattr(dest, "write"):
            dest.write(b"\x89PNG partial")
        else:
            Path(dest).write_bytes(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(target, name, fail)


def test_full_disk_while_writing_masks_keeps_previous_masks(
    tiny_run: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> None:
    out = tmp_path / "out"
    images = tiny_data / "test" / "images"
    assert cli(["predict", tiny_run, images, "--out", out, "--device", "cpu"]).code == 0
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    _disk_full_after_partial_write(monkeypatch, Image.Image, "save")
    res = cli(["predict", tiny_run, images, "--out", out, "--device", "cpu"])
    assert res.code == 2 and "Traceback" not in res.err
    assert res.error_lines == [f"error: {(out / 'c00.png').resolve()}: cannot write (No space left on "
                               "device); free some disk space and run again"]
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before  # intact, no .tmp- files
    assert all(np.asarray(Image.open(out / n)).shape == (16, 16) for n in before)


def test_full_disk_while_writing_probabilities_keeps_previous_file(
    tiny_run: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> None:
    out = tmp_path / "out"
    image = tiny_data / "test" / "images" / "c01.png"
    args = ["predict", tiny_run, image, "--out", out, "--device", "cpu", "--probabilities"]
    assert cli(args).code == 0
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    assert set(before) == {"c01.png", "c01_probs.npz"}
    _disk_full_after_partial_write(monkeypatch, np, "savez_compressed")
    res = cli(args)
    assert res.code == 2 and "c01_probs.npz: cannot write (No space left on device)" in res.err
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert np.load(out / "c01_probs.npz")["probabilities"].shape == (2, 16, 16)
