"""Synthetic and bundled data sets; nothing is downloaded at run time."""

from occamlab.tasks.digits import digits
from occamlab.tasks.mnist1d import Signals, mnist1d

__all__ = ["Signals", "digits", "mnist1d"]
