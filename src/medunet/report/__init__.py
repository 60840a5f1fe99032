"""Evaluation report: matplotlib figures and a self-contained HTML page.

Modules: :mod:`~medunet.report.html` (the page), :mod:`~medunet.report.tables` (its tables),
:mod:`~medunet.report.figures` (confusion matrix, distributions, training curves),
:mod:`~medunet.report.overlays` (the overlay gallery figure), :mod:`~medunet.report.gallery`
(which cases the gallery shows) and :mod:`~medunet.report.png` (figures to PNG bytes).
"""

from medunet.report.gallery import GalleryItem
from medunet.report.html import render_report, write_report

__all__ = ["GalleryItem", "render_report", "write_report"]
