"""The gallery shows a case's uncertainty map as one more panel (viridis, fixed range 0..1)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from medunet.data.labels import LabelSet
from medunet.evaluation.arrays import CaseFiles
from medunet.evaluation.files import evaluate_files
from medunet.evaluation.writing import write_evaluation
from medunet.io.raster import write_raster
from medunet.report.gallery import GalleryItem
from medunet.report.raster import MAX_SIDE
from medunet.report.scroller import scroller

VIRIDIS_0 = (68, 1, 84)
VIRIDIS_1 = (253, 231, 37)
GAP = 6


def _decode(uri_b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri_b64))).convert("RGB"))


def _panel_strips(html_text: str) -> dict[str, np.ndarray]:
    """Case id -> its decoded panel strip (the ``alt`` text starts with the case id)."""
    found = re.findall(r'<img class="panels" src="data:image/png;base64,([^"]+)" alt="([^":]+):',
                       html_text)
    return {case: _decode(data) for data, case in found}


def _n_panels(strip: np.ndarray) -> int:
    return (strip.shape[1] + GAP) // (MAX_SIDE + GAP)


def _evaluation(tmp_path: Path) -> Path:
    """Two 32 x 32 cases; only ``a`` has an uncertainty map: 0 on the left half, 1 on the right."""
    ref = np.zeros((32, 32), dtype=np.uint8)
    ref[8:24, 8:24] = 1
    pred = np.roll(ref, 2, axis=1)
    files = []
    for case in ("a", "b"):
        Image.fromarray(ref).save(tmp_path / f"{case}_ref.png")
        (tmp_path / "predictions").mkdir(exist_ok=True)
        Image.fromarray(pred).save(tmp_path / "predictions" / f"{case}.png")
        files.append(CaseFiles(case, tmp_path / "predictions" / f"{case}.png",
                               tmp_path / f"{case}_ref.png"))
    unc = np.zeros((32, 32), dtype=np.float32)
    unc[:, 16:] = 1.0
    write_raster(unc, tmp_path / "predictions" / "a_uncertainty.tif")
    ev = evaluate_files(files, labels=LabelSet.from_count(2, declared=True), dataset_dir=tmp_path,
                        lesions=None, bootstrap=None)
    out = tmp_path / "eval"
    write_evaluation(ev, out, gallery_size=4)
    return out


def test_uncertainty_panel_only_for_the_case_with_a_map(tmp_path: Path) -> None:
    out = _evaluation(tmp_path)
    strips = _panel_strips((out / "report.html").read_text(encoding="utf-8"))
    assert set(strips) == {"a", "b"}
    assert _n_panels(strips["a"]) == _n_panels(strips["b"]) + 1
    assert _n_panels(strips["b"]) == 3  # image, contours, errors
    last = strips["a"][:, -MAX_SIDE:]  # the uncertainty panel, 32 px enlarged 8 times
    assert tuple(last[100, 10]) == VIRIDIS_0
    assert tuple(last[100, 250]) == VIRIDIS_1
    assert tuple(last[5, 127]) == VIRIDIS_0 and tuple(last[5, 128]) == VIRIDIS_1


def test_legend_text_and_metrics_unchanged(tmp_path: Path) -> None:
    out = _evaluation(tmp_path)
    text = (out / "report.html").read_text(encoding="utf-8")
    assert text.count("normalised entropy over TTA flips, 0 = all agree") == 1
    assert "uncertainty" not in (out / "metrics.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "uncertainty" not in json.dumps(json.loads((out / "metrics.json").read_text()))


def test_scroller_frames_show_the_map() -> None:
    ref = np.zeros((4, 32, 32), dtype=np.uint8)
    ref[:, 8:24, 8:24] = 1
    unc = np.ones((4, 32, 32), dtype=np.float32)
    with_map = GalleryItem("v", None, ref, ref, 1.0, 0, unc)
    without = GalleryItem("v", None, ref, ref, 1.0)
    for item, n in ((with_map, 2), (without, 1)):
        html_text = scroller(item, "case-0", None, {1: "#009e73"}, 2)
        frames = json.loads(re.findall(r'<script type="application/json"[^>]*>(.*?)</script>',
                                       html_text)[0])["frames"]
        frame = _decode(frames[0])
        assert _n_panels(frame) == n
        if n == 2:
            assert tuple(frame[100, -10]) == VIRIDIS_1
