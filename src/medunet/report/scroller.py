"""The slice scroller of a volume in the gallery: base64 PNG frames, a range input and the keys.

Frames are the axial slices that matter: those with reference or predicted foreground plus
``MARGIN_SLICES`` on each side (the gallery item is already cut to them), at most
``MAX_FRAMES`` spread evenly over them and fewer when they would take more than
``FRAME_BYTES``, each subsampled in-plane to at most :data:`~medunet.report.raster.MAX_SIDE`
pixels (with 128 grey levels and a palette, see :func:`~medunet.report.raster.encode_png`). A frame shows the image with the error colours
and both contours, and beside it the lesion verdicts for lesion tasks and the uncertainty map
where the case has one. The frames travel as
JSON data in the page; :data:`SCRIPT` swaps them into the ``<img>``. Without JavaScript the
page shows the first frame shown (the slice through the structure) and says so.
"""

from __future__ import annotations

import base64
import html
import json

import numpy as np

from medunet.report.gallery import MARGIN_SLICES, GalleryItem, take
from medunet.report.overlays import LesionMasks, Slice, hstack, panels
from medunet.report.raster import Window, encode_png

__all__ = ["FRAME_BYTES", "MAX_FRAMES", "MIN_FRAMES", "SCRIPT", "frame_slices", "scroller"]

#: axial frames per volume at most
MAX_FRAMES = 24
#: base64 bytes of one volume's frames at most: beyond it, fewer frames (evenly spread, at
#: least ``MIN_FRAMES``) are kept. A 256 x 256 MR frame takes about 47 kB, a very noisy one
#: 75 kB, so the four volumes of a default gallery add 4 MB at most (with ``MIN_FRAMES``: 2.4 MB
#: even for frames of 75 kB)
FRAME_BYTES = 1_000_000
MIN_FRAMES = 8


def frame_slices(ref: np.ndarray, pred: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Indices along the first axis of the slices to show, ascending."""
    fg: np.ndarray = np.asarray(((ref > 0) | (pred > 0)).reshape(ref.shape[0], -1).any(axis=1))
    keep = fg.copy()
    for shift in range(1, MARGIN_SLICES + 1):
        keep[shift:] |= fg[:-shift]
        keep[:-shift] |= fg[shift:]
    chosen = np.flatnonzero(keep)
    if chosen.size == 0:
        chosen = np.array([ref.shape[0] // 2])
    if chosen.size > max_frames:
        picks = np.unique(np.round(np.linspace(0, chosen.size - 1, max_frames)).astype(int))
        chosen = chosen[picks]
    return chosen


def _frame(item: GalleryItem, z: int, lesions: LesionMasks | None,
           styles: dict[int, str], window: Window | None) -> bytes:
    """PNG of axial slice ``z`` (in the item's arrays): overlay, and lesions and uncertainty
    when given."""
    marks = None
    if lesions is not None:
        marks = LesionMasks(*(take(m, 0, z) for m in (lesions.detected, lesions.missed,
                                                      lesions.false_positive)))
    image = None if item.image is None else take(np.asarray(item.image), 0, z,
                                                  channels=np.ndim(item.image) == 4)
    unc = None if item.uncertainty is None else take(np.asarray(item.uncertainty), 0, z)
    view = Slice(item.case_id, image, take(item.ref, 0, z), take(item.pred, 0, z), marks, window,
                 unc)
    return encode_png(hstack(panels(view, styles, which=("overlay", "lesions", "uncertainty"))))


def scroller(item: GalleryItem, anchor: str, lesions: LesionMasks | None,
             styles: dict[int, str], start: int, window: Window | None = None) -> str:
    """The slice scroller of a volume case, as HTML.

    Parameters
    ----------
    item : GalleryItem
        A (Z, Y, X) case (cut by :func:`~medunet.report.gallery.pick_gallery`).
    anchor : str
        The case's element id; the frames' JSON gets ``<anchor>-frames``.
    lesions : LesionMasks, optional
        (Z, Y, X) lesion verdicts; each frame then shows them beside the overlay.
    styles : dict of int to str
        Contour colour per label value.
    start : int
        Slice (in the item's arrays) whose nearest frame is shown first, and without
        JavaScript.
    window : (float, float), optional
        The volume's intensity window, so that brightness does not jump between frames.

    Returns
    -------
    str
        A ``<figure>`` (frame, range input, caption) and the JSON of the frames.
    """
    zs = frame_slices(np.asarray(item.ref), np.asarray(item.pred))
    frames = [base64.b64encode(_frame(item, int(z), lesions, styles, window)).decode("ascii")
              for z in zs]
    total = sum(len(f) for f in frames)
    if total > FRAME_BYTES and len(frames) > MIN_FRAMES:
        n = max(MIN_FRAMES, len(frames) * FRAME_BYTES // total)
        keep = np.unique(np.round(np.linspace(0, len(frames) - 1, n)).astype(int))
        zs, frames = zs[keep], [frames[i] for i in keep]
    shown = [int(z) + item.z_offset for z in zs]
    first = int(np.argmin(np.abs(zs - start)))
    data = json.dumps({"slices": shown, "frames": frames}, separators=(",", ":"))
    label = html.escape(f"slice of {item.case_id}")
    status = f"slice {shown[first]} ({first + 1} / {len(shown)})"
    return (
        f'<figure class="scroller" tabindex="0" data-frames="{anchor}-frames">\n'
        f'<img class="frame" data-slice="{shown[first]}" '
        f'src="data:image/png;base64,{frames[first]}" alt="{label}">\n'
        f'<div class="controls js-only" hidden><input type="range" min="0" '
        f'max="{len(frames) - 1}" value="{first}" aria-label="{label}"> '
        f"<output>{status}</output></div>\n"
        f'<figcaption>Axial slices with foreground (± {MARGIN_SLICES}), {len(frames)} frames: drag '
        "the slider or press the arrow keys (Page Up/Down: 10 at a time).<noscript> "
        f"JavaScript is off: this is {status}.</noscript></figcaption>\n</figure>\n"
        f'<script type="application/json" id="{anchor}-frames">{data}</script>\n'
    )


#: the page's only script: sortable tables and the slice scrollers; the page reads fine without it
SCRIPT = """
(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  each(document.querySelectorAll(".js-only"), function (el) { el.hidden = false; });
  each(document.querySelectorAll("figure.scroller"), function (fig) {
    var data = JSON.parse(document.getElementById(fig.dataset.frames).textContent);
    var img = fig.querySelector("img.frame"), range = fig.querySelector("input[type=range]");
    var out = fig.querySelector("output"), n = data.frames.length;
    function show(i) {
      i = Math.max(0, Math.min(n - 1, i));
      range.value = String(i);
      img.src = "data:image/png;base64," + data.frames[i];
      img.dataset.slice = String(data.slices[i]);
      out.textContent = "slice " + data.slices[i] + " (" + (i + 1) + " / " + n + ")";
    }
    range.addEventListener("input", function () { show(Number(range.value)); });
    fig.addEventListener("keydown", function (e) {
      var step = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1,
                  PageDown: 10, PageUp: -10}[e.key];
      if (step && e.target !== range) { show(Number(range.value) + step); e.preventDefault(); }
    });
  });
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { return cell.textContent; }
    return v === "" ? null : Number(v);
  }
  each(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells, body = table.tBodies[0];
    each(heads, function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort");
      function sort() {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        each(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === null || y === null) { return (x === null) - (y === null); }
          if (typeof x === "string") { return dir * x.localeCompare(y); }
          return dir * (x - y);
        });
        each(rows, function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { sort(); e.preventDefault(); }
      });
    });
  });
})();
"""
