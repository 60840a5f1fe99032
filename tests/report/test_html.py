from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet.evaluation.document import MetricsDocument
from medunet.report import GalleryItem, ReportExtras, write_report
from medunet.report.figures import curves_figure
from medunet.training.state import LogRow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'<img[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
MetricsFactory = Callable[..., MetricsDocument]


def _pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in DATA_URI.findall(text)]


def test_report_is_self_contained(
    tmp_path: Path, report_inputs: tuple[MetricsDocument, list[GalleryItem]]
) -> None:
    metrics, gallery = report_inputs
    rows = [LogRow(epoch=e, train_loss=1 / (e + 1), val_dice_fg=e / 5, val_dice_fg_case_present=e / 5,
                   val_dice={"brain": e / 5}, lr=1e-3, skipped_steps=0, seconds=1.0, elapsed=e + 1.0)
            for e in range(5)]
    out = write_report(
        metrics,
        tmp_path / "sub" / "report.html",
        gallery=gallery,
        extras=ReportExtras(figures={"Training curves": curves_figure(rows)}),
    )
    assert out == tmp_path / "sub" / "report.html"
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left
    text = out.read_text(encoding="utf-8")
    # confusion matrix, Dice distribution, one panel strip per gallery case, one extra figure
    assert text.count("<img") == 2 + len(gallery) + 1
    pngs = _pngs(text)
    assert len(pngs) == 2 + len(gallery) + 1
    for png in pngs:
        assert png.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png)) as im:
            im.verify()
    assert "http://" not in text and "https://" not in text
    # nothing is loaded from elsewhere: no src/href but data URIs and in-page anchors, no CSS
    # url() or @import, one inline script, and a policy that makes the browser refuse the rest
    assert set(re.findall(r'\bsrc="([a-z]+:)', text)) == {"data:"}
    assert all(h.startswith("#") for h in re.findall(r'\bhref="([^"]*)"', text))
    assert "url(" not in text and "@import" not in text and "<link" not in text
    assert re.findall(r"<script\b[^>]*>", text) == ["<script>"]
    assert "default-src 'none'" in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text
    assert "<title>medunet evaluation</title>" in text


def test_labels_escaped_and_nulls_dashed(
    tmp_path: Path, metrics_factory: MetricsFactory, evil_id: str
) -> None:
    metrics = metrics_factory(["background", "a&b", "c<d>"], num_cases=3)
    text = write_report(metrics, tmp_path / "r.html", title="T & <U>").read_text(encoding="utf-8")
    assert "a&amp;b" in text and "c&lt;d&gt;" in text and "c<d>" not in text
    assert "<title>T &amp; &lt;U&gt;</title>" in text
    assert "– (n=0)" in text  # dice_present of a class that is never present
    assert text.count("<img") == 2  # no gallery, no extras
    assert "Dice is 1 when both masks are empty." in text
    assert evil_id not in text


def test_report_is_deterministic(tmp_path: Path, metrics_factory: MetricsFactory) -> None:
    metrics = metrics_factory(["background", "brain"], num_cases=4)
    a = write_report(metrics, tmp_path / "a.html").read_bytes()
    b = write_report(metrics, tmp_path / "b.html").read_bytes()
    assert a == b


def test_overwrite_is_atomic(tmp_path: Path, metrics_factory: MetricsFactory) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_report(metrics_factory(["background", "brain"], num_cases=2), target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_gallery_shape_mismatch_names_case(tmp_path: Path, metrics_factory: MetricsFactory) -> None:
    bad = GalleryItem("c1", np.zeros((8, 8)), np.zeros((8, 8), int), np.zeros((9, 8), int), 0.5)
    metrics = metrics_factory(["background", "brain"], num_cases=2)
    with pytest.raises(ValueError, match="c1"):
        write_report(metrics, tmp_path / "r.html", gallery=[bad])
    assert not list(tmp_path.iterdir())
