"""``notebooks/quickstart.ipynb``: committed without outputs, and runs top to bottom."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_committed_notebook_has_no_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "no code cells"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
            f"code cell {i} has outputs; strip them before committing")


@pytest.mark.slow
def test_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    # a kernelspec whose interpreter is this one (the venv's), found before any user-wide "python3"
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    spec = kernelspec.get_kernel_dict()
    assert spec["argv"][0] == sys.executable
    (kernels / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=400, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
    seconds = time.perf_counter() - t0
    print(f"quickstart notebook ran in {seconds:.0f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    out = work / "quickstart-output"
    for name in ("run/best.pt", "run/model_card.md", "test_report/report.html", "test_report/metrics.json"):
        assert (out / name).is_file(), name
    assert not list(NOTEBOOK.parent.glob("quickstart-output*"))
