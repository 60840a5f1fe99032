"""Evaluation report: matplotlib figures and a self-contained HTML page."""

from medunet.report.html import GalleryItem, write_report

__all__ = ["GalleryItem", "write_report"]
