"""Evaluation report: matplotlib figures and a self-contained HTML page.

Modules: :mod:`~medunet.report.html` (the page), :mod:`~medunet.report.tables` (its tables),
:mod:`~medunet.report.lesion_section` (lesion detection), :mod:`~medunet.report.gallery`
(which cases the gallery shows), :mod:`~medunet.report.gallery_section` (how it shows them),
:mod:`~medunet.report.overlays` and :mod:`~medunet.report.raster` (the panels, drawn with
numpy), :mod:`~medunet.report.lesion_view` (per-lesion verdicts of a gallery case),
:mod:`~medunet.report.scroller` (the slice scroller of a volume),
:mod:`~medunet.report.figures` (confusion matrix, distributions, training curves),
:mod:`~medunet.report.markup` (HTML pieces), :mod:`~medunet.report.extras` (what a training run
adds) and :mod:`~medunet.report.png` (figures to PNG bytes).
"""

from medunet.report.extras import ReportExtras
from medunet.report.gallery import GalleryItem
from medunet.report.html import render_report, write_report

__all__ = ["GalleryItem", "ReportExtras", "render_report", "write_report"]
