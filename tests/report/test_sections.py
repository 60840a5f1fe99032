"""Report content: the sortable per-case table, links, intervals, lesions, conventions, extras."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from medunet.data.labels import LabelSet
from medunet.distances import DistanceSettings
from medunet.evaluation.arrays import evaluate_arrays
from medunet.evaluation.document import MetricsDocument
from medunet.evaluation.intervals import ConfidenceInterval
from medunet.evaluation.lesions import evaluate_lesions
from medunet.report import GalleryItem, ReportExtras, render_report, scroller
from medunet.report.gallery import pick_gallery


class _Page(HTMLParser):
    """Element ids, in-page links and the rows of the sortable table (cells' text and data-v)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.header: list[str] = []
        self.rows: list[tuple[str | None, list[tuple[str, str | None]]]] = []
        self._in, self._cell, self._head = False, None, False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if tag == "table":
            self._in = "sortable" in (a.get("class") or "")
        elif self._in and tag == "tr":
            self.rows.append((a.get("id"), []))
        elif self._in and tag in ("td", "th"):
            self._head = tag == "th"
            self._cell = ["", a.get("data-v")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th") and self._cell is not None:
            if self._head:
                self.header.append(self._cell[0])
            else:
                self.rows[-1][1].append((self._cell[0], self._cell[1]))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _ci(estimate: float, low: float, high: float, n: int) -> ConfidenceInterval:
    return ConfidenceInterval(estimate, low, high, 0.95, "bca", "case", n, n, 2000, 0,
                              n >= 10, "" if n >= 10 else f"only {n} cases")


def test_per_case_rows_carry_the_numbers_and_link_to_the_gallery(
    metrics_factory: Callable[..., MetricsDocument], gallery_factory: Callable[..., list]
) -> None:
    doc = metrics_factory(["background", "tumour", "oedema"], num_cases=5)
    gallery = gallery_factory(3, n=3)  # cases 0 (the escaped id), 1 and 2 of the document
    page = _parse(render_report(doc, gallery=gallery))
    body = [r for r in page.rows if r[1]]
    assert [rid for rid, _ in body] == [f"row-{i}" for i in range(5)]
    assert page.header[:6] == ["case", "foreground Dice", "accuracy", "Dice background",
                               "Dice tumour", "Dice oedema"]
    for (_, cells), row in zip(body, doc.per_case, strict=True):
        assert cells[0][0] == row.case
        values = [float(v) for _, v in cells[1:6] if v is not None]
        assert values == [row.foreground_dice, row.accuracy, row.dice["background"],
                          row.dice["tumour"], row.dice["oedema"]]  # exact, not the 3 decimals
        assert cells[4][0] == f"{row.dice['tumour']:.3f}"
    # gallery cases link to their panels, the panels link back; every link has its target
    assert {f"#case-{i}" for i in range(3)} <= set(page.links)
    assert {f"#row-{i}" for i in range(3)} <= set(page.links)
    assert "#case-3" not in page.links and "#case-4" not in page.links
    assert all(link.lstrip("#") in page.ids for link in page.links)


def test_intervals_stand_beside_their_numbers(metrics_factory: Callable[..., MetricsDocument]) -> None:
    doc = metrics_factory(["background", "tumour"], num_cases=4)
    doc = dataclasses.replace(doc, intervals={
        "pooled.foreground_dice": _ci(0.9, 0.8125, 0.9031, 40),
        "mean_case.foreground_dice": _ci(0.8, 0.7, 0.85, 4),
        "pooled.dice.tumour": _ci(0.85, 0.801, 0.899, 4)},
        notes=("case a: prediction resampled onto the reference grid (nearest)",))
    text = re.sub(r'</?span[^>]*>', "", render_report(doc))  # the interval's text, tags aside
    summary = text[text.index('id="summary"'):text.index('id="per-class"')]
    row = re.search(r"Pooled foreground Dice</td><td>0\.900</td><td>(.*?)</td>", summary)
    assert row and "[0.812, 0.903]" in row.group(1) and "unreliable" not in row.group(1)
    row = re.search(r"Mean-case foreground Dice ± std</td><td>[^<]*</td><td>(.*?)</td>", summary)
    assert row and "[0.700, 0.850] unreliable (n &lt; 10)" in row.group(1)
    per_class = text[text.index('id="per-class"'):]
    assert "0.850<br>[0.801" in per_class and "[0.801, 0.899] unreliable (n &lt; 10)" in per_class
    assert "95% CI" in summary
    assert "<li>case a: prediction resampled onto the reference grid (nearest)</li>" in text


def test_lesions_conventions_and_notes_from_an_evaluation() -> None:
    ref = np.zeros((3, 24, 24), np.int64)
    ref[0, 2:6, 2:6] = 1  # 16 voxels: detected below
    ref[0, 12:20, 12:20] = 1  # 64 voxels: missed
    pred = np.zeros_like(ref)
    pred[0, 2:6, 3:7] = 1
    pred[0, 20:23, 0:3] = 1  # false positive
    cases = [(f"c{i}", ref[i], pred[i]) for i in range(3)]
    ev = evaluate_arrays(cases, LabelSet((0, 1), ("background", "lesion")),
                         distance=DistanceSettings(2.0, "max_directed", "surfel"))
    doc = ev.document()
    text = render_report(doc)
    section = text[text.index('id="lesions"'):text.index('id="figures"')]
    # reference lesions 2, TP 1, FP 1, FN 1; then sensitivity 0.5 with its interval
    assert re.search(r"<td>lesion</td><td>2</td><td>1</td><td>1</td><td>1</td><td>0\.500", section)
    assert "<th>[10, 100) voxels</th>" in section and "<td>1 / 2 (0.50)</td>" in section
    assert "IoU &gt; 0.10" in section
    assert "<code>max_directed</code>" in text and "<code>surfel</code>" in text
    assert "NSD tolerance 2.00 px" in text
    assert all(f"<li>{note}</li>" in text for note in doc.notes) and doc.notes
    # per-case table: missed and false-positive lesions per class
    page = _parse(text)
    assert page.header[-2:] == ["missed lesions lesion", "false-positive lesions lesion"]
    assert [cells[-2:] for _, cells in page.rows if cells][0] == [("1", "1.0"), ("1", "1.0")]


def test_training_extras_plan_table_and_model_card(
    metrics_factory: Callable[..., MetricsDocument]
) -> None:
    extras = ReportExtras(plan={"patch_size": [64, 48], "network": {"depth": 4, "width": 16}},
                          model_card="# Model card\n\n<b>bold</b> & more")
    text = render_report(metrics_factory(["background", "brain"], num_cases=2), extras=extras)
    training = text[text.index('id="training"'):]
    assert "<details><summary>Plan</summary>" in training
    assert "<td>network.depth</td><td>4</td>" in training
    assert "<td>patch_size</td><td>[64, 48]</td>" in training
    assert ('<pre class="model-card"># Model card\n\n&lt;b&gt;bold&lt;/b&gt; &amp; more</pre>'
            in training)
    assert 'id="training"' not in render_report(metrics_factory(["background", "brain"], 2))


@pytest.mark.parametrize("offset", [0, 7])
def test_volume_gallery_cut_frames_and_slice_numbers(
    offset: int, metrics_factory: Callable[..., MetricsDocument]
) -> None:
    ref = np.zeros((60, 20, 20), np.int64)
    ref[30 + offset:33 + offset, 5:10, 5:10] = 1  # centre: slice 31 + offset
    pred = np.zeros_like(ref)
    pred[31 + offset:36 + offset, 6:11, 5:10] = 1
    image = np.random.default_rng(0).random((1, 60, 20, 20)).astype(np.float32)
    (item,) = pick_gallery(["v"], [0.5], lambda i: (image, ref, pred), 1)[:1]
    # cut to at least 32 slices around the foreground (slices 30+o..35+o), every lesion whole
    assert item.ref.shape[0] == 32 and item.z_offset == 17 + offset
    assert item.ref.sum() == ref.sum() and item.pred.sum() == pred.sum()
    assert item.ref.dtype == np.uint8 and item.image.shape == (1, 32, 20, 20)
    doc = metrics_factory(["background", "tumour"], num_cases=1)
    doc = dataclasses.replace(doc, per_case=(dataclasses.replace(doc.per_case[0], case="v"),),
                              lesions=evaluate_lesions([("v", ref, pred)], 2))
    text = render_report(doc, gallery=[item])
    # the lesion's centre in the original volume's voxel indices (slices 30..32 + offset)
    assert f"<td>detected</td><td>0.400</td><td>{31 + offset}, 7, 7</td>" in text
    data = re.search(r'<script type="application/json" id="case-0-frames">(.*?)</script>', text)
    assert data is not None
    frames = json.loads(data.group(1))
    # foreground slices 30+o..35+o plus 2 on each side, in the original volume's numbering
    assert frames["slices"] == list(range(28 + offset, 38 + offset))
    assert len(set(frames["frames"])) == len(frames["frames"]) == 10
    # without JavaScript the page shows the slice through the structure, controls hidden
    first = re.search(r'<img class="frame" data-slice="(\d+)" src="data:image/png;base64,([^"]+)"',
                      text)
    assert first and int(first.group(1)) == 31 + offset
    assert first.group(2) == frames["frames"][frames["slices"].index(31 + offset)]
    assert '<div class="controls js-only" hidden>' in text
    assert f"axial {31 + offset}" in text


def test_gallery_item_for_a_case_not_in_the_document(
    metrics_factory: Callable[..., MetricsDocument]
) -> None:
    doc = metrics_factory(["background", "brain"], num_cases=2)
    mask = np.zeros((8, 8), np.int64)
    text = render_report(doc, gallery=[GalleryItem("elsewhere", None, mask, mask, 1.0)])
    assert 'id="gallery-0"' in text and "#gallery-0" not in text


def test_volume_frames_share_one_intensity_window(
    metrics_factory: Callable[..., MetricsDocument]
) -> None:
    ref = np.zeros((8, 16, 16), np.int64)
    ref[:, 6:9, 6:9] = 1  # foreground on every slice: every slice is a frame
    image = np.broadcast_to(np.arange(8.0)[:, None, None], ref.shape)[None].copy()  # slice z = z
    doc = metrics_factory(["background", "tumour"], num_cases=1)
    doc = dataclasses.replace(doc, per_case=(dataclasses.replace(doc.per_case[0], case="v"),))
    text = render_report(doc, gallery=[GalleryItem("v", image, ref, ref.copy(), 1.0)])
    data = json.loads(text.split('id="case-0-frames">')[1].split("</script>")[0])
    greys = []
    for frame in data["frames"]:
        with Image.open(io.BytesIO(base64.b64decode(frame))) as im:
            greys.append(int(np.asarray(im.convert("L"))[0, 0]))  # a background corner pixel
    # each slice alone is flat (it would be black); scaled with the volume, brightness grows
    assert data["slices"] == list(range(8))
    assert greys == sorted(greys) and greys[0] < greys[3] < greys[-1]


def test_frames_are_capped_in_count_and_bytes(
    monkeypatch: pytest.MonkeyPatch, metrics_factory: Callable[..., MetricsDocument]
) -> None:
    ref = np.zeros((40, 12, 12), np.int64)
    ref[5:35, 3:8, 3:8] = 1  # 30 slices with foreground, 34 with the margin
    doc = metrics_factory(["background", "tumour"], num_cases=1)
    doc = dataclasses.replace(doc, per_case=(dataclasses.replace(doc.per_case[0], case="v"),))
    item = GalleryItem("v", None, ref, ref.copy(), 1.0)

    def frames() -> list[int]:
        text = render_report(doc, gallery=[item])
        return json.loads(text.split('id="case-0-frames">')[1].split("</script>")[0])["slices"]

    shown = frames()
    assert len(shown) == scroller.MAX_FRAMES == 24 and (shown[0], shown[-1]) == (3, 36)
    monkeypatch.setattr(scroller, "FRAME_BYTES", 1)  # every frame is over budget
    fewer = frames()
    assert len(fewer) == scroller.MIN_FRAMES and (fewer[0], fewer[-1]) == (3, 36)
    assert set(fewer) <= set(shown)
