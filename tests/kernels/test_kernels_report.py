"""The report's kernel section (quick version) on MNIST-1D."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from occamlab import kernels as K  # noqa: E402
from occamlab.report import _kernels as report_kernels  # noqa: E402
from occamlab.report._kernels import architectures  # noqa: E402


@pytest.fixture(scope="module")
def ran(tmp_path_factory, report_section):
    out = tmp_path_factory.mktemp("report")
    return *report_section(report_kernels, "kernels", "Kernel space", out, n_train=200,
                           n_test=50), out


def test_section_writes_both_figures(ran, ink):
    sec, _, out = ran
    assert ink(out / "kernels_ntk_heatmaps.png") > 0.5  # heat maps fill their axes
    assert ink(out / "kernels_ntk_convergence.png") > 0.04  # lines beyond empty axes (0.017)
    html = sec.html()
    assert html.count("<img") == 2 and "1/√width" in html


def _relu_mlp_ntk(x, depth, w_std, b_std):
    """NTK of (Dense(w_std, b_std) → ReLU)×depth → Dense(1, 0) by the arc-cosine recursion
    (Cho & Saul 2009; Jacot et al. 2018, Thm 1), written out in NumPy: an independent oracle."""
    x = x.reshape(len(x), -1).astype(np.float64)
    s = w_std**2 * (x @ x.T) / x.shape[1] + b_std**2
    theta = s.copy()
    for layer in range(depth):
        q = np.sqrt(np.diag(s))
        c = np.clip(s / np.outer(q, q), -1, 1)
        np.fill_diagonal(c, 1.0)
        t = np.arccos(c)
        big_t = np.outer(q, q) / (2 * np.pi) * (np.sin(t) + (np.pi - t) * np.cos(t))
        dot_t = (np.pi - t) / (2 * np.pi)
        w2, b2 = (w_std**2, b_std**2) if layer < depth - 1 else (1.0, 0.0)
        s, theta = w2 * big_t + b2, w2 * big_t + b2 + w2 * dot_t * theta
    return theta


def test_section_kernels_are_the_closed_form_kernels(ran):
    _, study, _ = ran
    cache = study.cache["kernels"]
    x = cache["x"]
    assert x.shape == (study.n_signals, 1, 40)
    assert set(cache["ntk"]) == set(architectures())
    # the MLP on flattened signals against the arc-cosine recursion written out above
    ref = _relu_mlp_ntk(x.numpy(), 3, 2 ** 0.5, 0.1)
    np.testing.assert_allclose(cache["ntk"]["MLP"].numpy(), ref, rtol=1e-12)  # rounding


def test_kernel_result_plot_shows_the_permuted_kernel():
    import matplotlib.pyplot as plt

    x = np.random.default_rng(0).standard_normal((4, 3))
    k = K.mlp(1).kernel(x)
    ax = k.plot(kind="nngp", order=[2, 0, 3, 1])
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(shown, k.nngp.numpy()[[2, 0, 3, 1]][:, [2, 0, 3, 1]])
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="kind must be 'ntk' or 'nngp'"):
        k.plot(kind="cov")


def test_residual_verdict_is_computed_from_the_numbers():
    from types import SimpleNamespace

    import torch

    from occamlab.report._eigenlearning import _residual_verdict

    def r(align, measured, predicted):
        return {"alignment": align, "comparison": SimpleNamespace(
            measured_test=torch.tensor([1.0, measured]),
            predicted_test=torch.tensor([1.0, predicted]))}

    res = {"MLP": r(0.20, 0.90, 0.88), "CNN": r(0.30, 0.60, 0.62), "ResCNN": r(0.35, 0.45, 0.47)}
    text = _residual_verdict(res, 60)
    assert "alignment 0.350 (CNN 0.300, MLP 0.200)" in text
    assert "0.450, 25% lower than the plain CNN's (predicted 0.470)" in text  # 0.45/0.60 − 1
    assert "ResCNN < CNN < MLP" in text and "also learns best" in text
    res["MLP"]["alignment"] = 0.5  # best aligned but worst learner
    assert "while the ResCNN learns best: alignment alone" in _residual_verdict(res, 60)
