"""Start-up cost: ``--help`` loads no heavy library, and ``inspect`` works without torch.

Each check runs in a fresh interpreter, so what the test process imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from medunet.cli import COMMANDS

#: libraries ``medunet --help`` must not load (torch alone costs seconds and hundreds of MB)
HEAVY = ("torch", "numpy", "PIL", "SimpleITK", "matplotlib", "scipy", "onnx", "onnxruntime")

# Runs medunet.cli.main(argv) with the top-level packages in BLOCKED made unimportable, then
# prints the exit code and which HEAVY libraries ended up in sys.modules as the last line.
_PROBE = r"""
import json, sys

blocked, heavy, argv = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3:]


class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"import of {name} blocked by the test")
        return None


sys.meta_path.insert(0, Block())
from medunet.cli import main

try:
    code = main(argv)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _probe(argv: Sequence[str], blocked: Sequence[str] = ()) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, ",".join(blocked), ",".join(HEAVY), *argv],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_help_imports_no_heavy_library() -> None:
    assert _probe(["--help"]) == {"code": 0, "loaded": []}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_imports_no_heavy_library(command: str) -> None:
    assert _probe([command, "--help"]) == {"code": 0, "loaded": []}


def test_python_dash_m_help_imports_no_heavy_library() -> None:
    # -X importtime lists every module the interpreter imports, one per stderr line
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "medunet", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "medunet.cli" in imported  # the listing is real: it names the CLI itself
    assert sorted(m for m in imported if m.partition(".")[0] in HEAVY) == []


def test_inspect_works_with_torch_blocked(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", n=2, classes=3)
    out = tmp_path / "summary.json"
    result = _probe(["inspect", str(root), "--labels", "0,1,2", "--json", str(out)], blocked=["torch"])
    assert result["code"] == 0
    assert "torch" not in result["loaded"]
    doc = json.loads(out.read_text())
    assert doc["splits"] == {s: {"cases": 2, "with_foreground": 2} for s in ("train", "val", "test")}
    assert doc["labels"] == {"0": "background", "1": "class_1", "2": "class_2"}
    assert doc["labels_declared"] is True and doc["problems"] == []


def test_blocking_torch_is_effective(tmp_path: Path) -> None:
    """The probe's block is real: a command that needs torch fails to import it (exit 2)."""
    result = _probe(["predict", str(tmp_path / "run"), str(tmp_path), "--out", str(tmp_path / "o")],
                    blocked=["torch"])
    assert result["code"] == 2 and "torch" not in result["loaded"]
