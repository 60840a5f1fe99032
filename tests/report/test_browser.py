"""Render the report in headless Chromium: it loads, every image decodes, the page is not blank."""

from __future__ import annotations

import dataclasses
import html
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.evaluation.document import MetricsDocument
from medunet.report import GalleryItem, ReportExtras, write_report
from medunet.report.figures import curves_figure
from medunet.report.raster import FN_COLOUR, FP_COLOUR, hex_rgb
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


def _volume() -> GalleryItem:
    """A (Z, Y, X) case whose structure grows and moves from slice to slice."""
    ref = np.zeros((12, 40, 40), np.int64)
    for z in range(2, 10):
        ref[z, 5 + 2 * z:15 + 2 * z, 10:12 + 2 * z] = 1 + z % 2
    pred = np.roll(ref, 2, axis=2)
    image = np.random.default_rng(1).normal(size=(1, 12, 40, 40)).astype(np.float32) + ref
    return GalleryItem("vol", image, ref, pred, 0.7)


@pytest.fixture
def report(
    tmp_path: Path,
    metrics_factory: Callable[..., MetricsDocument],
    gallery_factory: Callable[..., list[GalleryItem]],
) -> Path:
    metrics = metrics_factory(["background", "tumour", "oedema"], num_cases=5)
    metrics = dataclasses.replace(metrics, per_case=metrics.per_case[:4] + (
        dataclasses.replace(metrics.per_case[4], case="vol"),))
    rows = [LogRow(epoch=e, train_loss=1 / (e + 1), val_dice_fg=e / 4, val_dice_fg_case_present=e / 4,
                   val_dice={"brain": e / 4}, lr=1e-3, skipped_steps=0, seconds=1.0, elapsed=e + 1.0)
            for e in range(4)]
    return write_report(
        metrics,
        tmp_path / "report.html",
        gallery=gallery_factory(3, n=2) + [_volume()],
        title=TITLE,
        extras=ReportExtras(figures={"Training curves": curves_figure(rows)}),
    )


def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    exe = _chromium()
    expected = report.read_text(encoding="utf-8").count("<img")
    # confusion matrix, Dice distribution, 3 gallery strips, the scroller's frame, curves
    assert expected == 7

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


# Moves the first scroller with the keyboard and the slider, sorts the per-case table by its
# second column, then reports what it saw in the title (as JSON).
SCROLL_PROBE = """<script>
window.addEventListener("load", function () {
  var fig = document.querySelector("figure.scroller"), img = fig.querySelector("img.frame");
  var range = fig.querySelector("input[type=range]");
  var seen = {start: img.dataset.slice, hidden: range.parentNode.hidden, src0: img.src};
  fig.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowRight", bubbles: true}));
  seen.right = img.dataset.slice;
  seen.changed = img.src !== seen.src0;
  fig.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowLeft", bubbles: true}));
  seen.back = img.src === seen.src0;
  range.value = "0";
  range.dispatchEvent(new Event("input"));
  seen.first = img.dataset.slice;
  seen.output = fig.querySelector("output").textContent;
  var th = document.querySelector("table.sortable thead th:nth-child(2)");
  th.click();
  var ids = function () {
    return Array.prototype.map.call(document.querySelectorAll("table.sortable tbody tr"),
                                    function (r) { return r.id; });
  };
  seen.ascending = ids();
  th.click();
  seen.descending = ids();
  delete seen.src0;
  document.title = JSON.stringify(seen);
  range.value = "5";  // a slice with structure, moved to the top of the page for the screenshot
  range.dispatchEvent(new Event("input"));
  document.body.insertBefore(fig, document.body.firstChild);
});
</script>
"""


def test_scroller_and_sorting_work_in_chromium(report: Path, tmp_path: Path) -> None:
    exe = _chromium()
    text = report.read_text(encoding="utf-8")
    frames = json.loads(text.split('id="case-4-frames">')[1].split("</script>")[0])
    probe = tmp_path / "scroll.html"
    probe.write_text(text.replace("</body>", SCROLL_PROBE + "</body>"), encoding="utf-8")
    dom = _run(exe, tmp_path / "p4", "--virtual-time-budget=5000", "--dump-dom",
               probe.as_uri()).stdout
    seen = json.loads(html.unescape(dom.split("<title>")[1].split("</title>")[0]))
    slices = [str(s) for s in frames["slices"]]
    start = slices.index(seen["start"])
    assert seen["hidden"] is False  # the script showed the controls
    assert seen["right"] == slices[start + 1] and seen["changed"] is True and seen["back"]
    assert seen["first"] == slices[0] and seen["output"] == f"slice {slices[0]} (1 / {len(slices)})"
    # the second column is the foreground Dice: ascending, then descending
    report_rows = sorted(range(5), key=lambda i: _fg_dice(text, i))
    assert seen["ascending"] == [f"row-{i}" for i in report_rows]
    assert seen["descending"] == [f"row-{i}" for i in reversed(report_rows)]

    shot = tmp_path / "scroll.png"
    _run(exe, tmp_path / "p5", f"--screenshot={shot}", "--window-size=1200,900",
         "--virtual-time-budget=5000", probe.as_uri())
    keep = os.environ.get("MEDUNET_KEEP_SCREENSHOTS")
    if keep:  # for a person to look at
        shutil.copy(shot, Path(keep) / "scroller.png")
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    colours = {tuple(int(v) for v in c) for c in np.unique(pixels.reshape(-1, 3), axis=0)}
    assert len(colours) > 10
    # the frame on screen shows the error colours (the drawn slice has both kinds of error)
    assert hex_rgb(FP_COLOUR) in colours and hex_rgb(FN_COLOUR) in colours


def _fg_dice(text: str, i: int) -> float:
    """The foreground Dice (data-v of the second cell) of per-case row ``i``."""
    row = text.split(f'<tr id="row-{i}">')[1].split("</tr>")[0]
    return float(row.split('data-v="')[1].split('"')[0])


LONG_NAME = "background / non-brain (skull, scalp, neck, eyes and the rest)"[:60]
# Where the confusion matrix lands on the page, and how large it is drawn.
LAYOUT_PROBE = """<script>
window.addEventListener("load", function () {
  var img = document.querySelector('img[alt="confusion matrix"]');
  var r = img.getBoundingClientRect();
  document.title = JSON.stringify({left: r.left, right: r.right, width: r.width,
                                   natural: img.naturalWidth,
                                   page: document.documentElement.clientWidth,
                                   scroll: document.documentElement.scrollWidth});
  document.body.insertBefore(img, document.body.firstChild);  // on screen for the screenshot
});
</script>
"""


def test_long_class_names_fit_the_page(
    tmp_path: Path, metrics_factory: Callable[..., MetricsDocument]
) -> None:
    exe = _chromium()
    names = [LONG_NAME, "grey matter", "white matter", "CSF", "tumour", "oedema"]
    report = write_report(metrics_factory(names, num_cases=3), tmp_path / "long.html")
    probe = tmp_path / "layout.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "</body>"))
    dom = _run(exe, tmp_path / "p6", "--virtual-time-budget=5000", "--window-size=1200,900",
               "--dump-dom", probe.as_uri()).stdout
    seen = json.loads(html.unescape(dom.split("<title>")[1].split("</title>")[0]))
    # the figure is drawn whole inside the page, scaled down by at most a little, and the
    # page does not scroll sideways
    assert seen["natural"] > 0 and 0 <= seen["left"] and seen["right"] <= seen["page"]
    assert seen["width"] >= 0.85 * seen["natural"]
    assert seen["scroll"] <= seen["page"]
    shot = tmp_path / "long.png"
    _run(exe, tmp_path / "p7", f"--screenshot={shot}", "--window-size=1200,900",
         "--virtual-time-budget=5000", probe.as_uri())
    keep = os.environ.get("MEDUNET_KEEP_SCREENSHOTS")
    if keep:  # for a person to look at
        shutil.copy(shot, Path(keep) / "long_names.png")
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    # the confusion matrix's blues are on screen
    assert np.any((pixels[..., 2] > 150) & (pixels[..., 0] < 60))
