"""The report's design section (quick version) on MNIST-1D."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from _design_closed_forms import deep_relu_ntk  # noqa: E402, F401

from occamlab.report import _design as report_design  # noqa: E402


@pytest.fixture(scope="module")
def ran(tmp_path_factory, report_section):
    out = tmp_path_factory.mktemp("report")
    return *report_section(report_design, "design", "design", out, n_train=200, n_test=200), out


def test_section_figure_and_tables(ran, ink):
    sec, _, out = ran
    assert ink(out / "design_kernel_and_activation.png") > 0.04  # lines beyond empty axes
    html = sec.html()
    assert html.count("<img") == 1 and html.count("<table>") == 2


def test_section_numbers(ran):
    _, study, _ = ran
    cache = study.cache["design"]
    # The minimax degree-5 optimum for this NTK (tests/design/test_design_series.py): 4.38%.
    assert cache["fit_relative_error"] == pytest.approx(0.0438, abs=5e-4)
    # Independent check of the kernel being fitted: the arc-cosine recursion at c = 0.3 equals
    # the kernels room's value the section used (same closed form, two implementations).
    from occamlab import kernels as K

    c = torch.tensor([0.3], dtype=torch.float64)
    deep = K.cosine_kernel(K.mlp(4, "relu", w_std=math.sqrt(2), b_std=0.1), 40, "ntk")
    torch.testing.assert_close(deep(c), deep_relu_ntk(c), rtol=1e-12, atol=0)
    acc = cache["accuracy"]
    # 64 training signals, 10 classes: both kernels are well above chance (0.1); with a 4.4%
    # kernel mismatch their accuracies agree within the binomial noise of 200 test signals
    # (2·√(0.25/200) ≈ 0.07).
    a_deep, a_shallow = acc.values()
    assert a_deep > 0.2 and a_shallow > 0.2
    assert abs(a_deep - a_shallow) < 0.07
    # The fit's guarantee carried to data: no kernel entry is off by more than the fit's
    # maximum error on the cosine grid (801 points; between points the error moves by < 1e-3
    # of itself, so a 1% allowance).
    assert cache["worst_entry_error"] <= 1.01 * cache["fit_relative_error"]
    assert 0 < cache["kernel_gap"] < 0.15  # measured 8.8%: relative Frobenius on these signals
