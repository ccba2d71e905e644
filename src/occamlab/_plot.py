"""Shared figure conventions: log axes labelled with plain numbers. Nothing here is public API."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["readable_log_axes"]

# Minor ticks labelled when an axis spans less than this many decades (else only the decades).
_SHORT_SPAN = 1.5
_MINOR_LABELS = (2, 3, 5)


def _plain(v: float) -> str:
    """2, 30, 0.005 as such; 10⁵ and beyond (or below 10⁻³) in powers of ten."""
    if not v > 0 or not math.isfinite(v):
        return ""
    if 1e-3 <= v < 1e5:
        return f"{v:g}"
    e = math.floor(math.log10(v) + 1e-9)
    m = v / 10**e
    return f"$10^{{{e}}}$" if abs(m - 1) < 1e-6 else f"${m:g}\\times10^{{{e}}}$"


def readable_log_axes(ax: Any) -> Any:
    """Label the log-scaled axes of ``ax`` with plain numbers ("2", "300", "0.01"), not
    "2×10⁰"; an axis spanning under 1.5 decades also labels its minor ticks 2, 3 and 5 of each
    decade. Decided at draw time, so lines added later are covered. Returns ``ax``."""
    from matplotlib.ticker import FuncFormatter

    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() != "log":
            continue

        def minor(v: float, _pos: Any = None, axis: Any = axis) -> str:
            lo, hi = sorted(axis.get_view_interval())
            if not (lo > 0 and math.log10(hi / lo) < _SHORT_SPAN):
                return ""
            m = v / 10 ** math.floor(math.log10(v) + 1e-9)
            return _plain(v) if any(abs(m - s) < 1e-6 for s in _MINOR_LABELS) else ""

        axis.set_major_formatter(FuncFormatter(lambda v, _pos=None: _plain(v)))
        axis.set_minor_formatter(FuncFormatter(minor))
    return ax
