"""The report's dynamics section (quick version) on MNIST-1D."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from occamlab.report import _dynamics as report_dynamics  # noqa: E402
from occamlab.report._study import SECTIONS  # noqa: E402


@pytest.fixture(scope="module")
def ran(tmp_path_factory, report_section):
    out = tmp_path_factory.mktemp("report")
    return *report_section(report_dynamics, "dynamics", "Dynamics", out, n_train=200,
                           n_test=100), out


def test_section_is_listed_and_writes_its_figures(ran):
    sec, _, out = ran
    assert "dynamics" in [k for k, _, _ in SECTIONS]
    assert (out / "dynamics_learning_curve.png").stat().st_size > 10_000
    assert (out / "dynamics_kernel_evolution.png").stat().st_size > 10_000
    html = sec.html()
    assert html.count("<img") == 2 and html.count("<table>") == 1


def test_predicted_curve_starts_at_the_closed_form(ran):
    # at t = 0 the ensemble mean is 0 and its covariance the test NNGP, so the expected test
    # MSE with one-hot targets (one 1 among 10 entries) is 0.1 + mean of the NNGP's diagonal
    _, study, _ = ran
    c = study.cache["dynamics"]
    k = c["arch"].kernel(c["x_test"]).nngp
    assert c["predicted_test"][0] == pytest.approx(0.1 + float(k.diagonal().mean()), rel=1e-12)
    assert np.all(np.diff(c["predicted_test"]) < 0)  # gradient flow on MSE: it only falls


def test_trained_network_follows_the_prediction(ran):
    # one width-128 network (quick): its own initial function and finite width keep it off the
    # ensemble's expected MSE (measured 33% at step 0, where only the draw counts, falling to
    # 19% at the last step); a network that did not follow the flow would stay near its start
    _, study, _ = ran
    c = study.cache["dynamics"]
    rel = np.abs(c["trained"][:, 1] - c["predicted_test"]) / c["predicted_test"]
    assert rel.max() < 0.5 and rel[-1] < 0.3
    for row in c["after"]:
        for key in ("network acc", "initial-kernel acc", "final-kernel acc"):
            assert 0.0 <= row[key] <= 1.0
