"""Model-free evaluation works where torch cannot be imported at all."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

# every `import torch` (or torch.*) raises, as on a machine without torch; then the CLI evaluates
SCRIPT = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked here (import of {name})")
        return None

sys.meta_path.insert(0, NoTorch())
from medunet.cli import main

code = main(["evaluate", sys.argv[1], sys.argv[2], "--out", sys.argv[3]])
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


def test_evaluate_masks_without_torch(tmp_path: Path, write_png: Callable) -> None:
    ref = np.zeros((10, 10), np.uint8)
    ref[2:6, 3:7] = 1  # 16 pixels
    write_png(tmp_path / "ref" / "shifted.png", ref)
    write_png(tmp_path / "pred" / "shifted.png", np.roll(ref, 1, axis=0))  # 12 of 16 overlap
    write_png(tmp_path / "ref" / "same.png", ref)
    write_png(tmp_path / "pred" / "same.png", ref)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "pred"), str(tmp_path / "ref"), str(out)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "torch": False}, proc.stderr[-3000:]
    doc = json.loads((out / "metrics.json").read_text())
    dice = {row["case"]: row["dice"]["class_1"] for row in doc["per_case"]}
    assert dice == {"same": 1.0, "shifted": 2 * 12 / (16 + 16)}
    assert doc["pooled"]["foreground_dice"] == 2 * (12 + 16) / (32 + 32)
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["case", "same", "shifted"]
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
