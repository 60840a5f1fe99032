"""Untrusted files: checkpoints never run code, output names never leave the output folder,
and nothing in medunet touches the network.

(``load_checkpoint`` on pickle payloads: ``tests/test_checkpoint.py``.)
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_kit import CliResult, PicklePayload

import medunet
from medunet.checkpoint import FORMAT, VERSION
from medunet.inference.outputs import safe_output_path, write_prediction
from medunet.io import read_image

# --- crafted checkpoints -----------------------------------------------------------------------


def _evil_run(tmp: Path, tiny_run: Path) -> Path:
    """A run folder whose ``best.pt`` is the real one plus a pickle payload in its plan."""
    evil = tmp / "evil"
    evil.mkdir()
    data = torch.load(tiny_run / "best.pt", weights_only=True)
    data["plan"] = {**data["plan"], "extra": PicklePayload(tmp / "pwned")}
    torch.save(data, evil / "best.pt")
    assert data["format"] == FORMAT and data["version"] == VERSION
    return evil


@pytest.mark.parametrize("command", ["predict", "evaluate", "export"])
def test_crafted_checkpoint_is_refused_by_every_command(
    command: str, tiny_run: Path, tiny_data: Path, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    evil = _evil_run(tmp_path, tiny_run)
    out = tmp_path / "out"
    argv = {
        "predict": ["predict", evil, tiny_data / "test" / "images", "--out", out],
        "evaluate": ["evaluate", evil, "--data", tiny_data, "--split", "test", "--out", out],
        "export": ["export", evil, "--out", out / "model.onnx"],
    }[command]
    res = cli(argv)
    assert res.code == 2 and "Traceback" not in res.err
    assert len(res.error_lines) == 1
    assert f"{evil / 'best.pt'}: refused to load checkpoint (not plain data" in res.error_lines[0]
    assert not (tmp_path / "pwned").exists()
    assert not out.exists()


def test_payload_would_run_without_weights_only(tiny_run: Path, tmp_path: Path) -> None:
    """Control: the crafted file really carries code (never do this with untrusted files)."""
    evil = _evil_run(tmp_path, tiny_run)
    torch.load(evil / "best.pt", weights_only=False)
    assert (tmp_path / "pwned").read_text().strip() == "pwned"


# --- output names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", "", "../x", "/abs/x", "a/../../b", "a/b", "..\\x",
                                  "C:\\x", "x\0y"])
def test_unsafe_output_names_are_refused(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="not a safe output file name"):
        safe_output_path(out, name)


@pytest.mark.parametrize("name", ["a.png", "..png", "...png", "a..b.nii.gz", ".hidden.png"])
def test_odd_but_plain_names_stay_inside(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert safe_output_path(out, name) == (out / name).resolve()


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "c.png").symlink_to(elsewhere / "c.png")
    with pytest.raises(ValueError, match="escape"):
        safe_output_path(out, "c.png")


@pytest.mark.parametrize("stem", ["../evil", "/tmp/evil", "sub/../../evil"])
def test_prediction_with_escaping_stem_writes_nothing(stem: str, tmp_path: Path,
                                                      write_png: Callable[..., Path]) -> None:
    img, meta = read_image(write_png(tmp_path / "in" / "a.png", np.zeros((8, 8), np.uint8)))
    probs = np.full((2, 8, 8), 0.5, np.float32)
    out = tmp_path / "deep" / "out"
    with pytest.raises(ValueError, match="not a safe output file name"):
        write_prediction(probs, img, meta, out, False, probabilities=True, overlays=True, stem=stem)
    assert not (tmp_path / "deep").exists()
    assert sorted(p.name for p in tmp_path.rglob("*evil*")) == []


@pytest.mark.parametrize("name", ["..png", "...png"])
def test_predict_files_named_like_dots_stay_inside(name: str, tiny_run: Path, tmp_path: Path,
                                                   cli: Callable[..., CliResult]) -> None:
    src = tmp_path / "in" / name
    src.parent.mkdir()
    Image.fromarray(np.full((16, 16), 90, np.uint8)).save(src, format="PNG")
    out = tmp_path / "out"
    res = cli(["predict", tiny_run, src, "--out", out, "--device", "cpu", "--overlays"])
    assert res.code == 0, res.err
    stem = name[: -len(".png")]
    assert sorted(p.name for p in out.iterdir()) == sorted([name, f"{stem}_overlay.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


# --- no network --------------------------------------------------------------------------------

_NETWORK_MODULES = {"socket", "ssl", "urllib", "http", "requests", "httpx", "aiohttp", "ftplib",
                    "smtplib", "xmlrpc", "websocket", "urllib3"}


def test_the_package_imports_no_network_module() -> None:
    root = Path(medunet.__file__).parent
    found = []
    for py in root.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{py.relative_to(root)}: {n}" for n in names
                      if n.split(".")[0] in _NETWORK_MODULES]
    assert found == []


def test_import_and_predict_work_with_sockets_disabled(tiny_run: Path, tiny_data: Path,
                                                       tmp_path: Path) -> None:
    """A fresh interpreter where opening any socket raises: import medunet, predict, evaluate."""
    script = textwrap.dedent(f"""
        import socket, sys
        def refuse(*args, **kwargs):
            raise RuntimeError("network access attempted")
        class NoSocket(socket.socket):  # stays a class: ssl subclasses it at import
            def __init__(self, *args, **kwargs):
                refuse()
        socket.socket = NoSocket
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import medunet
        from medunet.cli import main
        code = main(["predict", {str(tiny_run)!r}, {str(tiny_data / "test" / "images")!r},
                     "--out", {str(tmp_path / "pred")!r}, "--device", "cpu"])
        code |= main(["evaluate", {str(tmp_path / "pred")!r}, {str(tiny_data / "test" / "masks")!r},
                      "--out", {str(tmp_path / "report")!r}])
        try:  # the guard was armed all along
            socket.socket()
            code = 9
        except RuntimeError:
            pass
        sys.exit(code)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert "network access attempted" not in proc.stderr
    assert len(list((tmp_path / "pred").glob("*.png"))) == 2
    assert (tmp_path / "report" / "report.html").is_file()
