"""Fixtures of the reliability tests: the CLI in-process, a tiny dataset and a tiny trained run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from reliability_kit import CliResult, tiny_config, write_dataset

from medunet.cli import main


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[[Sequence[str]], CliResult]:
    """Run ``medunet ARGS`` in-process; argparse's own exits count as return codes."""

    def run(argv: Sequence[str]) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse refuses bad option values itself
            code = int(exc.code) if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid dataset: train 4, val 2, test 2 cases of 16x16 px. Do not modify it."""
    return write_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def tiny_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run trained on ``tiny_data`` (grey input, 2 classes). Do not modify it."""
    from medunet.training import train

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    train(tiny_config(tiny_data, out, "train.epochs=1", "train.iterations_per_epoch=2"))
    return out
