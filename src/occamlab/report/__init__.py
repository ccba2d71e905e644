"""Plots and the HTML report."""

from occamlab.report.page import Section
from occamlab.report.study import Study, run

__all__ = ["Section", "Study", "run"]
