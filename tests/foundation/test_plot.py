"""Log axes are labelled with plain numbers."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from occamlab._plot import readable_log_axes  # noqa: E402


def _labels(axis, minor: bool) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    ticks = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
    fmt = axis.get_minor_formatter() if minor else axis.get_major_formatter()
    return [fmt(t) for t in ticks if lo <= t <= hi and fmt(t)]


def test_short_log_axis_labels_its_minor_ticks_plainly():
    fig, ax = plt.subplots()
    ax.loglog([2, 12], [0.9, 2.1])
    readable_log_axes(ax)
    fig.canvas.draw()
    # 2–12 spans 0.78 decades: the decade 10 and the minors 2, 3, 5 labelled, as plain numbers
    assert _labels(ax.xaxis, False) == ["10"]
    assert _labels(ax.xaxis, True) == ["2", "3", "5"]
    assert _labels(ax.yaxis, False) == ["1"]
    assert _labels(ax.yaxis, True) == ["2"]
    plt.close(fig)


def test_long_log_axis_labels_decades_only():
    fig, ax = plt.subplots()
    ax.loglog([1e-4, 1e6], [1, 1000])
    readable_log_axes(ax)
    fig.canvas.draw()
    labels = _labels(ax.xaxis, False)
    # plain between 10⁻³ and 10⁵, powers of ten outside
    assert labels == ["$10^{-4}$", "0.01", "1", "100", "10000", "$10^{6}$"]
    assert _labels(ax.xaxis, True) == []
    plt.close(fig)
