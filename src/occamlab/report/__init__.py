"""Plots and the HTML report."""

from occamlab.report._page import Section
from occamlab.report._study import Study, run

__all__ = ["Section", "Study", "run"]
