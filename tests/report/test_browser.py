"""Render the report in headless Chromium: it loads, every image decodes, the page is not blank."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.evaluation.document import MetricsDocument
from medunet.report import GalleryItem, write_report
from medunet.report.figures import curves_figure
from medunet.training.state import LogRow

pytestmark = pytest.mark.browser

TITLE = "browser check report"
# Appended to a test-only copy of the report: the title becomes OK:<n loaded images> or ERR:<n broken>.
PROBE = """<script>
window.addEventListener("load", function () {
  var ok = 0, bad = 0;
  for (var i = 0; i < document.images.length; i++) {
    var img = document.images[i];
    if (img.complete && img.naturalWidth > 0) { ok++; } else { bad++; }
  }
  document.title = bad ? "ERR:" + bad : "OK:" + ok;
});
</script>
"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        reason = "chromium not found on PATH (install it to run browser tests)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


def _run(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture
def report(
    tmp_path: Path,
    metrics_factory: Callable[..., MetricsDocument],
    gallery_factory: Callable[..., list[GalleryItem]],
) -> Path:
    metrics = metrics_factory(["background", "tumour", "oedema"], num_cases=5)
    rows = [LogRow(epoch=e, train_loss=1 / (e + 1), val_dice_fg=e / 4, val_dice_fg_case_present=e / 4,
                   val_dice={"brain": e / 4}, lr=1e-3, skipped_steps=0, seconds=1.0, elapsed=e + 1.0)
            for e in range(4)]
    return write_report(
        metrics,
        tmp_path / "report.html",
        gallery=gallery_factory(3, n=2),
        title=TITLE,
        extra_figures={"Training curves": curves_figure(rows)},
    )


def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    exe = _chromium()
    expected = report.read_text(encoding="utf-8").count("<img")
    assert expected == 4

    dom = _run(exe, tmp_path / "p1", "--dump-dom", report.as_uri()).stdout
    assert f"<title>{TITLE}</title>" in dom
    assert f"<h1>{TITLE}</h1>" in dom

    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom = _run(exe, tmp_path / "p2", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert f"<title>OK:{expected}</title>" in dom.stdout

    shot = tmp_path / "shot.png"
    _run(exe, tmp_path / "p3", f"--screenshot={shot}", "--window-size=1200,3000", report.as_uri())
    assert shot.is_file()
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not a blank page
