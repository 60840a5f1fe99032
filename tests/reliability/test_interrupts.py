"""Interrupted runs lose nothing: SIGTERM saves and resumes exactly, a crash mid-write or
``kill -9`` leaves the last complete checkpoint, and ``--resume`` carries on.

(Ctrl-C with bit-identical resume: ``tests/training/test_train.py``; atomic checkpoint writes
in isolation: ``tests/test_checkpoint.py``.)
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from reliability_kit import CliResult, tiny_config, tiny_train_args

from medunet.checkpoint import load_checkpoint
from medunet.training import Callbacks, train


def _signal_at(sig: signal.Signals, epoch: int, it: int) -> Callable[[int, int, int, float], None]:
    def on_step(e: int, i: int, iters: int, loss: float) -> None:
        if (e, i) == (epoch, it):
            os.kill(os.getpid(), sig)

    return on_step


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_sigterm_saves_last_and_resume_is_bit_identical(tiny_data: Path, tmp_path: Path) -> None:
    train(tiny_config(tiny_data, tmp_path / "ref"))
    cut = tmp_path / "cut"
    before = signal.getsignal(signal.SIGTERM)
    summary = train(tiny_config(tiny_data, cut),
                    callbacks=Callbacks(on_step=_signal_at(signal.SIGTERM, 1, 1)))
    assert summary.stopped == "interrupted"
    state = load_checkpoint(cut / "last.pt")["state"]
    assert (state["epoch"], state["iteration"]) == (1, 1)
    assert not (cut / "report.html").exists()  # the run is not finished
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored
    resumed = train(tiny_config(tiny_data, cut), resume=True)
    assert resumed.stopped == "epochs_done" and resumed.epochs == 2
    _assert_same_weights(tmp_path / "ref" / "last.pt", cut / "last.pt")


@contextmanager
def _cli_signal(monkeypatch: pytest.MonkeyPatch, sig: signal.Signals) -> Iterator[None]:
    """Make ``medunet train``'s progress callbacks send ``sig`` at epoch 1, step 2."""
    import medunet.training.progress as progress

    @contextmanager
    def callbacks(enabled: bool = True) -> Iterator[Callbacks]:
        yield Callbacks(on_step=_signal_at(sig, 0, 2))

    monkeypatch.setattr(progress, "progress_callbacks", callbacks)
    yield
    monkeypatch.undo()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_interrupt_prints_resume_command_and_exits_130(
    sig: signal.Signals, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> None:
    run = tmp_path / "run"
    with _cli_signal(monkeypatch, sig):
        res = cli(tiny_train_args(tiny_data, run))
    assert res.code == 130 and "Traceback" not in res.err
    assert f"progress saved in {run / 'last.pt'}" in res.err
    assert f"medunet train {tiny_data} --out {run} --resume" in res.err
    assert load_checkpoint(run / "last.pt")["state"]["iteration"] == 2
    done = cli(tiny_train_args(tiny_data, run, "--resume"))
    assert done.code == 0, done.err
    assert (run / "report.html").is_file()
    assert load_checkpoint(run / "last.pt")["state"]["epoch"] == 2


def test_crash_while_writing_last_pt_keeps_the_previous_one(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    """The second write of ``last.pt`` puts half its bytes on disk, then the disk is full."""
    real_save = torch.save
    writes: list[str] = []

    def failing_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        name = Path(getattr(f, "name", str(f))).name
        writes.append(name)
        if name == ".tmp-last.pt" and writes.count(name) == 2:
            f.write(b"\x80\x02partial checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    run = tmp_path / "run"
    res = cli(tiny_train_args(tiny_data, run))
    assert res.code == 2 and "Traceback" not in res.err
    assert res.error_lines == [f"error: {run / 'last.pt'}: cannot write checkpoint (No space left on "
                               "device); free some disk space and run again"]
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["state"]["epoch"] == 1
    assert not [f.name for f in run.iterdir() if f.name.startswith(".tmp-")]
    monkeypatch.undo()
    assert cli(tiny_train_args(tiny_data, run, "--resume")).code == 0
    assert load_checkpoint(run / "last.pt")["state"]["epoch"] == 2


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not path.is_file():
        if proc.poll() is not None:
            raise AssertionError(f"training ended early (exit {proc.returncode}): "
                                 f"{proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def test_kill_9_leaves_a_loadable_checkpoint_and_resume_completes(
    tiny_data: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    run = tmp_path / "run"
    # many epochs, so the process is certainly still training when it is killed
    args = tiny_train_args(tiny_data, run, "--epochs", "1000")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "medunet.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(run / "last.pt", proc, timeout=120)
        time.sleep(random.Random(0).uniform(0.0, 0.5))  # some moment, maybe mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(run / "last.pt")["state"]
    assert 1 <= state["epoch"] < 1000
    res = cli(tiny_train_args(tiny_data, run, "--resume", "--epochs", str(state["epoch"] + 1)))
    assert res.code == 0, res.err
    final = load_checkpoint(run / "last.pt")
    assert final["state"]["epoch"] == state["epoch"] + 1
    assert load_checkpoint(run / "best.pt")["format"] == final["format"]
    assert (run / "report.html").is_file()
    assert not [f.name for f in run.iterdir() if f.name.startswith(".tmp-")]
